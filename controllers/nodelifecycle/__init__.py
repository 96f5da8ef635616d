"""The node lifecycle controller: node heartbeats (Leases) -> Unknown conditions -> NotReady
taints -> eviction of pods after their tolerationSeconds, rate limited per zone, and never a
mass eviction when every node looks dead at once.

`decisions` holds the pure policy (zone states, taints, eviction times); `controller` the
informers, the monitor pass and the taint manager. Entry points: `NodeLifecycleController`
(for the controller manager) and `run_node_lifecycle`."""

from controllers.nodelifecycle.controller import NodeLifecycleController, run_node_lifecycle

__all__ = ["NodeLifecycleController", "run_node_lifecycle"]
