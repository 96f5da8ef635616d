"""The ReplicaSet controller: keeps `spec.replicas` pods of a template alive.

`decisions` holds the pure arithmetic (how many to create or delete, which pods go first,
the status); `controller` the informer/queue wiring and the writes."""
