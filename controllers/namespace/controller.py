"""The namespace controller's I/O: when a Namespace has a deletionTimestamp, mark it
Terminating, delete every namespaced object in it (every kind, CRDs included), and once
nothing is left remove the `kubernetes` finalizer through `PUT .../finalize` so that the API
server deletes the Namespace.

It never touches a namespace that is not being deleted, and it waits (requeue) rather than
finalizing while objects remain (pods still terminating, objects with finalizers)."""

from __future__ import annotations

import logging

from apimachinery.client.informer import copy_object
from apimachinery.client.workqueue import Result
from apimachinery.errors import NotFound, StatusError
from apimachinery.resources import ResourceInfo
from controllers import podutil
from controllers.base import NAMESPACES, Controller, ControllerContext, res
from controllers.namespace import decisions as nd

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.ns_informer = ctx.informer(NAMESPACES)
        self.ns_informer.add_handler(on_add=self._changed, on_update=lambda old, new: self._changed(new))

    def _changed(self, ns: dict) -> None:
        if podutil.is_deleting(ns):
            self.enqueue(ns)

    async def _resources(self) -> list[ResourceInfo]:
        extra: list[ResourceInfo] = []
        try:
            crds = await self.client.list(res("customresourcedefinitions", "apiextensions.k8s.io"))
            extra = nd.crd_resources(crds.get("items") or [])
        except StatusError as e:
            log.debug("listing CRDs failed: %s", e)
        return nd.namespaced_resources(self.client.registry, extra)

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        ns = self.ns_informer.store.get(key)
        if ns is None or not podutil.is_deleting(ns):
            return None
        name = podutil.name_of(ns)
        remaining: dict[str, int] = {}
        finalizers_left: dict[str, int] = {}
        failures: list[str] = []
        for r in await self._resources():
            label = f"{r.plural}.{r.group}" if r.group else r.plural
            try:
                items = (await self.client.list(r, name)).get("items") or []
            except NotFound:
                continue
            except StatusError as e:
                failures.append(f"{label}: {e}")
                continue
            if not items:
                continue
            remaining[label] = len(items)
            fins = sum(1 for o in items if podutil.meta(o).get("finalizers"))
            if fins:
                for o in items:
                    for f in podutil.meta(o).get("finalizers") or []:
                        finalizers_left[f] = finalizers_left.get(f, 0) + 1
            pending = [o for o in items if not podutil.is_deleting(o)]
            if not pending:
                continue
            try:
                if "deletecollection" in r.verbs:
                    await self.client.delete_collection(r, name, propagation_policy="Background")
                else:
                    for o in pending:
                        try:
                            await self.client.delete(r, podutil.name_of(o), name, propagation_policy="Background")
                        except NotFound:
                            pass
            except StatusError as e:
                failures.append(f"{label}: {e}")
        status = nd.terminating_status(ns, remaining, failures, finalizers_left, podutil.now())
        if status.get("phase") != (ns.get("status") or {}).get("phase") or \
                [(c["type"], c["status"]) for c in status.get("conditions", [])] != \
                [(c.get("type"), c.get("status")) for c in (ns.get("status") or {}).get("conditions") or []]:
            upd = copy_object(ns)
            upd["status"] = status
            try:
                ns = await self.client.update_status(NAMESPACES, upd)
            except NotFound:
                return None
        if remaining or failures:
            return Result(requeue_after=RECHECK_SECONDS)
        body = nd.finalized(ns)
        if body is not None:
            try:
                await self.client.replace(NAMESPACES, body, subresource="finalize")
            except NotFound:
                return None
        return None
