"""The DaemonSet controller: one pod on every eligible node (Docker Swarm's global services).

`decisions` holds the pure parts (which nodes should run a pod, which pods to create or
delete, rolling-update steps, ControllerRevisions, status); `controller` the wiring and writes."""
