"""The default scheduler: binds pending pods to nodes, as kube-scheduler does.

`framework` holds the parsed pod and node data, `filters` and `scores` the pure decisions
(with Kubernetes' explanations), `queue` the scheduling queue, and `scheduler` the informer
wiring, the assumed-pod cache and the binding. Entry point: `run_scheduler`."""

from controllers.scheduler.scheduler import Scheduler, run_scheduler

__all__ = ["Scheduler", "run_scheduler"]
