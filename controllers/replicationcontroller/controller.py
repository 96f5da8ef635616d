"""The ReplicationController controller (pkg/controller/replication): Kubernetes runs the
ReplicaSet controller on ReplicationControllers through a conversion layer, and so does mizzen,
by subclassing it with the `v1` resource, kind and the map selector.

It must never hold logic of its own beyond the selector form: a fix to the ReplicaSet
controller applies here unchanged (decisions and status come from controllers.replicaset)."""

from __future__ import annotations

from apimachinery.selectors import LabelSelector
from controllers.base import res
from controllers.podutil import Obj
from controllers.replicaset.controller import ReplicaSetController

REPLICATIONCONTROLLERS = res("replicationcontrollers")


def map_selector(spec: Obj) -> LabelSelector:
    """`spec.selector` is `{key: value}`; empty means the template's labels (the API
    server's defaulting does the same)."""
    sel = spec.get("selector") or (((spec.get("template") or {}).get("metadata") or {}).get("labels")) or {}
    return LabelSelector.from_dict({"matchLabels": dict(sel)})


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller"
    resource = REPLICATIONCONTROLLERS
    kind = "ReplicationController"
    api_version = "v1"
    component = "replication-controller"

    @staticmethod
    def selector_of(spec: Obj) -> LabelSelector:
        return map_selector(spec)
