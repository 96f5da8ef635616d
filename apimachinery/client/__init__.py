"""The client machinery every mizzen controller, the scheduler and the kubelet use to talk to
an API server: the client-go pattern in asyncio.

- `ApiClient` (rest.py): Kubernetes verbs over aiohttp, typed Status errors, bounded retries.
- `Informer`, `InformerFactory`, `Store` (informer.py): list+watch into an indexed cache.
- `WorkQueue`, `run_workers`, `Result` (workqueue.py): keys to reconcile, client-go semantics.
- `ControllerExpectations` (expectations.py), `LeaderElector` (leader.py),
  `EventRecorder` (events.py), `load_kubeconfig` (kubeconfig.py).

It speaks only the REST API: it must never import the API server, controllers or kubelet.
"""

from apimachinery.client.events import NORMAL, WARNING, EventRecorder
from apimachinery.client.expectations import ControllerExpectations, UIDTrackingControllerExpectations
from apimachinery.client.informer import (
    INDEX_CONTROLLER_UID,
    INDEX_LABEL,
    INDEX_NAMESPACE,
    INDEX_NODE_NAME,
    INDEX_OWNER_UID,
    Informer,
    InformerFactory,
    Store,
    copy_object,
    enqueue_key,
    meta_namespace_key,
    split_key,
)
from apimachinery.client.kubeconfig import KubeConfig, KubeConfigError, load_kubeconfig
from apimachinery.client.leader import LeaderElector
from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient
from apimachinery.client.workqueue import (
    ReconcileIdFilter,
    Result,
    ShutDown,
    WorkQueue,
    reconcile_id,
    run_workers,
)

__all__ = [
    "INDEX_CONTROLLER_UID", "INDEX_LABEL", "INDEX_NAMESPACE", "INDEX_NODE_NAME", "INDEX_OWNER_UID",
    "NORMAL", "TRANSPORT_ERRORS", "WARNING",
    "ApiClient", "ControllerExpectations", "EventRecorder", "Informer", "InformerFactory", "KubeConfig",
    "KubeConfigError", "LeaderElector", "ReconcileIdFilter", "Result", "ShutDown", "Store", "UIDTrackingControllerExpectations",
    "WorkQueue", "copy_object", "enqueue_key", "load_kubeconfig", "meta_namespace_key", "reconcile_id",
    "run_workers", "split_key",
]
