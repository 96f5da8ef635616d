"""The EndpointSlice controller's I/O: informers on Services, pods and EndpointSlices feed
Service keys to a work queue; `reconcile` creates, updates and deletes the Service's
`discovery.k8s.io/v1` slices as `decisions.plan` says.

A slice we just wrote may not be in the cache yet; deciding on that cache would create a
duplicate. So the controller remembers the resourceVersion of each write (Kubernetes'
endpointSliceTracker) and requeues a Service whose slices the cache has not caught up with.
It never touches slices another controller manages (the managed-by label), and deleted
Services' slices are left to the garbage collector (they carry an ownerReference)."""

from __future__ import annotations

import logging
import time

from apimachinery.client.workqueue import Result
from apimachinery.errors import Conflict, NotFound, StatusError
from controllers import podutil
from controllers.base import PODS, ControllerContext, res
from controllers.endpoints import decisions as ep
from controllers.endpoints.controller import SERVICES, ServicePodHandlers
from controllers.endpointslice import decisions
from controllers.podutil import Obj

log = logging.getLogger(__name__)

ENDPOINTSLICES = res("endpointslices", "discovery.k8s.io")
SERVICE_INDEX = "endpointslice-service"


def index_by_service(slice_: Obj) -> list[str]:
    labels = podutil.labels_of(slice_)
    if labels.get(decisions.MANAGED_BY_LABEL) != decisions.CONTROLLER_NAME:
        return []
    svc = labels.get(decisions.SERVICE_NAME_LABEL)
    return [f"{podutil.namespace_of(slice_)}/{svc}"] if svc else []


def _rv_newer_or_equal(seen: str, written: str) -> bool:
    if seen == written:
        return True
    try:
        return int(seen) >= int(written)
    except ValueError:
        return False


class SliceTracker:
    """The writes the cache has not shown yet, per Service key: slice name -> resourceVersion
    written (None: deleted). A write unseen after `patience` seconds (the slice deleted by
    someone else before our watch saw it) is no longer waited for."""

    def __init__(self, patience: float = 10.0) -> None:
        self._pending: dict[str, dict[str, str | None]] = {}
        self._since: dict[tuple[str, str], float] = {}
        self.patience = patience

    def written(self, key: str, name: str, rv: str | None) -> None:
        self._pending.setdefault(key, {})[name] = rv
        self._since[(key, name)] = time.monotonic()

    def deleted(self, key: str, name: str) -> None:
        """The watch saw the slice go: whatever we wrote to it is no longer to be waited for."""
        pending = self._pending.get(key)
        if pending is not None and name in pending:
            del pending[name]
            self._since.pop((key, name), None)
            if not pending:
                del self._pending[key]

    def stale(self, key: str, cached: list[Obj]) -> bool:
        """True if some write is not reflected in `cached`; forgets those that are."""
        pending = self._pending.get(key)
        if not pending:
            return False
        by_name = {podutil.name_of(s): s for s in cached}
        now = time.monotonic()
        for name, rv in list(pending.items()):
            s = by_name.get(name)
            if rv is None:
                done = s is None
            else:
                done = s is not None and _rv_newer_or_equal(podutil.meta(s).get("resourceVersion", ""), rv)
            if done or now - self._since.get((key, name), now) > self.patience:
                del pending[name]
                self._since.pop((key, name), None)
        if not pending:
            del self._pending[key]
            return False
        return True

    def forget(self, key: str) -> None:
        for name in self._pending.pop(key, {}):
            self._since.pop((key, name), None)


class EndpointSliceController(ServicePodHandlers):
    name = "endpointslice"

    def __init__(self, ctx: ControllerContext, max_endpoints_per_slice: int = decisions.MAX_ENDPOINTS_PER_SLICE):
        super().__init__(ctx)
        self.max_per_slice = max_endpoints_per_slice
        self.svc_informer = ctx.informer(SERVICES)
        self.pod_informer = ctx.informer(PODS)
        self.slice_informer = ctx.informer(ENDPOINTSLICES)
        if not self.slice_informer.store.has_indexer(SERVICE_INDEX):
            self.slice_informer.store.add_indexer(SERVICE_INDEX, index_by_service)
        self.recorder = ctx.recorder("endpoint-slice-controller")
        self.triggers = ep.TriggerTimeTracker()
        self.tracker = SliceTracker()
        self.svc_informer.add_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                      on_delete=self.enqueue)
        self.pod_informer.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                      on_delete=self._pod_changed)
        self.slice_informer.add_handler(on_add=self._slice_changed, on_update=lambda old, new: self._slice_changed(new),
                                        on_delete=self._slice_deleted)

    def _slice_changed(self, slice_: Obj) -> None:
        for k in index_by_service(slice_):
            self.queue.add(k)

    def _slice_deleted(self, slice_: Obj) -> None:
        for k in index_by_service(slice_):
            self.tracker.deleted(k, podutil.name_of(slice_))
            self.queue.add(k)

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        ns, _name = podutil.split_key(key)
        svc = self.svc_informer.store.get(key)
        if svc is None:
            self.triggers.forget(key)
            self.tracker.forget(key)
            return None  # the garbage collector deletes the slices it owned
        existing = self.slice_informer.store.by_index(SERVICE_INDEX, key)
        if ep.service_selector(svc) is None:
            return None
        if self.tracker.stale(key, existing):
            return Result(requeue_after=0.05)  # our last writes are not in the cache yet
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            await self._delete(key, existing)  # an ExternalName Service has no endpoints
            return None
        wanted_pods = [p for p in self.pod_informer.store.by_index("namespace", ns) if ep.selects(svc, p)]
        trigger = self.triggers.compute(svc, wanted_pods)
        plan = decisions.plan(svc, wanted_pods, existing, trigger_time=trigger, max_per_slice=self.max_per_slice)
        if plan.empty():
            return None
        written = False
        try:
            # Deletions last and creations first, so that a reader never sees fewer endpoints
            # than before or after.
            for body in plan.create:
                created = await self.client.create(ENDPOINTSLICES, body, ns)
                self.tracker.written(key, podutil.name_of(created), podutil.meta(created).get("resourceVersion"))
            for body in plan.update:
                updated = await self.client.replace(ENDPOINTSLICES, body, ns)
                self.tracker.written(key, podutil.name_of(updated), podutil.meta(updated).get("resourceVersion"))
            await self._delete(key, plan.delete)
            written = True
        except (Conflict, NotFound):
            return Result(requeue=True)  # the cache was behind: decide again
        except StatusError as e:
            if e.reason == "Forbidden" and "terminat" in str(e):
                return None
            self.recorder.event(svc, "Warning", "FailedToUpdateEndpointSlices",
                                f"Error updating Endpoint Slices for Service {key}: {e}")
            raise
        finally:
            if not written:
                self.triggers.rollback(key)  # the retry must carry the same trigger time
        return None

    async def _delete(self, key: str, slices: list[Obj]) -> None:
        for s in slices:
            try:
                await self.client.delete(ENDPOINTSLICES, podutil.name_of(s), podutil.namespace_of(s),
                                         preconditions={"uid": podutil.uid_of(s)})
            except NotFound:
                pass
            self.tracker.written(key, podutil.name_of(s), None)
