"""The StatefulSet controller: pods with stable names `<set>-<ordinal>`, stable storage
(one PVC per claim template and ordinal), ordered or parallel creation and deletion, and
rolling updates through ControllerRevisions.

`decisions` holds the pure choices (which ordinal next, status); `controller` the wiring."""
