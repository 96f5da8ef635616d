"""The Endpoints controller's I/O: informers on Services, pods and Endpoints feed Service keys
to a work queue; `reconcile` writes the Endpoints object of the same name as each Service
with a selector, and deletes it when the Service is gone.

It never touches the Endpoints of a Service without a selector (they belong to whoever
wrote them), never writes a cached object (decisions copy), and updates only with the
resourceVersion it read (a 409 means: decide again on the fresh object)."""

from __future__ import annotations

import logging

from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError
from controllers import podutil
from controllers.base import PODS, Controller, ControllerContext, res
from controllers.endpoints import decisions
from controllers.podutil import Obj

log = logging.getLogger(__name__)

SERVICES = res("services")
ENDPOINTS = res("endpoints")


def services_for_pod(service_informer: object, pod: Obj) -> list[Obj]:
    """Services in the pod's namespace whose selector matches its labels (from the cache)."""
    store = service_informer.store  # type: ignore[attr-defined]
    return [s for s in store.by_index("namespace", podutil.namespace_of(pod)) if decisions.selects(s, pod)]


class ServicePodHandlers(Controller):
    """Pod informer handlers of the controllers keyed by Service (endpoints, endpointslice):
    a pod change enqueues every Service that selects the pod, before and after the change."""

    svc_informer: object

    def _pod_changed(self, pod: Obj) -> None:
        for s in services_for_pod(self.svc_informer, pod):
            self.enqueue(s)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not decisions.pod_change_matters(old, new):
            return
        keys = {podutil.key_of(s) for s in services_for_pod(self.svc_informer, new)}
        if podutil.labels_of(old) != podutil.labels_of(new):
            keys |= {podutil.key_of(s) for s in services_for_pod(self.svc_informer, old)}
        for k in keys:
            self.queue.add(k)


class EndpointsController(ServicePodHandlers):
    name = "endpoint"

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.svc_informer = ctx.informer(SERVICES)
        self.pod_informer = ctx.informer(PODS)
        self.ep_informer = ctx.informer(ENDPOINTS)
        self.recorder = ctx.recorder("endpoint-controller")
        self.triggers = decisions.TriggerTimeTracker()
        self.svc_informer.add_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                      on_delete=self.enqueue)
        self.pod_informer.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                      on_delete=self._pod_changed)
        self.ep_informer.add_handler(on_delete=self._endpoints_deleted)

    # -- handlers ------------------------------------------------------------------------------

    def _endpoints_deleted(self, ep: Obj) -> None:
        svc = self.svc_informer.store.get(podutil.key_of(ep))
        if svc is not None and decisions.service_selector(svc) is not None:
            self.enqueue(svc)

    # -- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        ns, name = podutil.split_key(key)
        svc = self.svc_informer.store.get(key)
        if svc is None:
            # The Service is gone: its Endpoints go too (as Kubernetes does, selector or not).
            self.triggers.forget(key)
            try:
                await self.client.delete(ENDPOINTS, name, ns)
            except NotFound:
                pass
            return None
        if decisions.service_selector(svc) is None:
            return None  # no selector: Endpoints are managed by someone else
        pods = [p for p in self.pod_informer.store.by_index("namespace", ns) if decisions.selects(svc, p)]
        trigger = self.triggers.compute(svc, pods)
        current = self.ep_informer.store.get(key)
        body = decisions.desired_endpoints(svc, pods, current, trigger)
        if body is None:
            return None
        written = False
        try:
            if current is None:
                await self.client.create(ENDPOINTS, body, ns)
            else:
                await self.client.replace(ENDPOINTS, body, ns)
            written = True
        except (AlreadyExists, Conflict, NotFound):
            return Result(requeue=True)  # our cache is behind: decide again on the fresh object
        except StatusError as e:
            if e.reason == "Forbidden" and "terminat" in str(e):
                return None  # namespace terminating
            self.recorder.event(svc, "Warning", "FailedToUpdateEndpoint",
                                f"Failed to update endpoint {key}: {e}")
            raise
        finally:
            if not written:
                self.triggers.rollback(key)  # the retry must carry the same trigger time
        return None
