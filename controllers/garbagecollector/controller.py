"""The garbage collector's I/O: an informer per deletable kind (shared with the other
controllers where they overlap), a uid -> object map built from them, and a work queue of
uids. Reconciling a uid either acts for an owner being deleted (orphan or foreground) or
checks the object's own owners.

It never deletes on the word of its cache alone: an owner missing from the cache is looked
up with a live GET first (informers of different kinds are not in step with each other).
It does not watch Events (high volume, never owners)."""

from __future__ import annotations

import logging

from apimachinery import resources
from apimachinery.client import INDEX_OWNER_UID, Informer
from apimachinery.client.workqueue import Result
from apimachinery.errors import NotFound, StatusError
from apimachinery.resources import ResourceInfo
from controllers import podutil
from controllers.base import Controller, ControllerContext
from controllers.garbagecollector import decisions as gc
from controllers.podutil import Obj

log = logging.getLogger(__name__)

_SKIP = {("", "events"), ("events.k8s.io", "events")}


def collectable_resources(registry: resources.Registry = resources.DEFAULT) -> list[ResourceInfo]:
    """Kinds that can be listed, watched and deleted, one version per group/plural."""
    out: dict[tuple[str, str], ResourceInfo] = {}
    for r in registry:
        if not r.stored or (r.group, r.plural) in _SKIP:
            continue
        if not {"list", "watch", "delete"} <= set(r.verbs):
            continue
        out.setdefault((r.group, r.plural), r)
    return list(out.values())


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, ctx: ControllerContext, kinds: list[ResourceInfo] | None = None):
        super().__init__(ctx)
        self.informers: dict[tuple[str, str], Informer] = {}
        self.by_uid: dict[str, tuple[Informer, str]] = {}
        for r in kinds or collectable_resources(ctx.client.registry):
            inf = ctx.informer(r)
            self.informers[(r.api_version, r.kind)] = inf
            inf.add_handler(on_add=lambda o, inf=inf: self._changed(inf, o),
                            on_update=lambda old, new, inf=inf: self._updated(inf, old, new),
                            on_delete=self._deleted)

    # -- graph -------------------------------------------------------------------------------

    def _changed(self, inf: Informer, obj: Obj) -> None:
        uid = podutil.uid_of(obj)
        if not uid:
            return
        self.by_uid[uid] = (inf, podutil.key_of(obj))
        m = podutil.meta(obj)
        if m.get("ownerReferences"):
            self.queue.add(uid)
        if m.get("deletionTimestamp") and {gc.ORPHAN, gc.FOREGROUND} & set(m.get("finalizers") or []):
            self.queue.add(uid)

    def _updated(self, inf: Informer, old: Obj, new: Obj) -> None:
        om, nm = podutil.meta(old), podutil.meta(new)
        if (om.get("ownerReferences") == nm.get("ownerReferences") and om.get("finalizers") == nm.get("finalizers")
                and bool(om.get("deletionTimestamp")) == bool(nm.get("deletionTimestamp"))
                and podutil.uid_of(new) in self.by_uid):
            return  # status or spec changes do not concern the graph (GraphBuilder's referencesDiffs)
        self._changed(inf, new)
        # An owner waiting on its dependents (orphan) must look again when one lets go.
        kept = {r.get("uid") for r in podutil.meta(new).get("ownerReferences") or []}
        for ref in podutil.meta(old).get("ownerReferences") or []:
            if ref.get("uid") not in kept and ref.get("uid") in self.by_uid:
                self.queue.add(ref["uid"])

    def _deleted(self, obj: Obj) -> None:
        uid = podutil.uid_of(obj)
        self.by_uid.pop(uid, None)
        for dep in self.dependents(uid):
            self.queue.add(podutil.uid_of(dep))
        for ref in podutil.meta(obj).get("ownerReferences") or []:
            # an owner in the foreground may be waiting for exactly this
            if ref.get("uid") in self.by_uid:
                self.queue.add(ref["uid"])

    def lookup(self, uid: str) -> Obj | None:
        entry = self.by_uid.get(uid)
        if entry is None:
            return None
        obj = entry[0].store.get(entry[1])
        return obj if obj is not None and podutil.uid_of(obj) == uid else None

    def dependents(self, uid: str) -> list[Obj]:
        out: list[Obj] = []
        for inf in self.informers.values():
            out.extend(inf.store.by_index(INDEX_OWNER_UID, uid))
        return out

    def _resource(self, api_version: str, kind: str) -> ResourceInfo | None:
        inf = self.informers.get((api_version, kind))
        if inf is not None:
            return inf.resource
        return self.client.registry.by_api_version_kind(api_version, kind)

    async def _owner_state(self, obj: Obj, ref: Obj) -> str:
        uid = ref.get("uid", "")
        owner = self.lookup(uid)
        if owner is not None:
            return gc.owner_state(owner, uid)
        r = self._resource(ref.get("apiVersion", ""), ref.get("kind", ""))
        if r is None:
            return gc.SOLID  # a kind we do not know: never collect on a guess
        ns = podutil.namespace_of(obj) if r.namespaced else None
        if r.namespaced and not ns:
            return gc.ABSENT  # a cluster-scoped object cannot be owned by a namespaced one
        try:
            live = await self.client.get(r, ref.get("name", ""), ns)
        except NotFound:
            return gc.ABSENT
        return gc.owner_state(live, uid)

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, uid: str) -> Result | None:  # type: ignore[override]
        obj = self.lookup(uid)
        if obj is None:
            return None
        inf, _ = self.by_uid[uid]
        r = inf.resource
        if podutil.is_deleting(obj):
            plan = gc.deleting_owner_plan(obj, self.dependents(uid))
            if plan.orphan or plan.delete or plan.remove_finalizer:
                await self._run_owner_plan(r, obj, plan)
                return None
        refs = podutil.meta(obj).get("ownerReferences") or []
        if not refs:
            return None
        states = {ref.get("uid", ""): await self._owner_state(obj, ref) for ref in refs}
        has_deps = gc.WAITING in states.values() and bool(self.dependents(uid))
        action = gc.dependent_action(obj, states, has_deps)
        ns = podutil.namespace_of(obj) or None
        try:
            if action.kind == "remove_refs":
                await self.client.patch(r, podutil.name_of(obj), {"metadata": {
                    "ownerReferences": gc.without_owner(obj, action.uids) or None,
                    "resourceVersion": podutil.meta(obj).get("resourceVersion")}}, namespace=ns)
            elif action.kind == "delete":
                log.info("garbage collecting %s %s (%s)", r.kind, podutil.key_of(obj), action.policy)
                await self.client.delete(r, podutil.name_of(obj), ns, propagation_policy=action.policy,
                                         preconditions={"uid": uid})
        except NotFound:
            return None
        except StatusError as e:
            if e.code == 409 and action.kind == "delete":
                return None  # precondition failed: a new object of that name; not ours to delete
            raise
        return None

    async def _run_owner_plan(self, r: ResourceInfo, owner: Obj, plan: gc.OwnerPlan) -> None:
        uid = podutil.uid_of(owner)
        for dep in plan.orphan:
            dr = self.by_uid[podutil.uid_of(dep)][0].resource if podutil.uid_of(dep) in self.by_uid else None
            if dr is None:
                continue
            try:
                await self.client.patch(dr, podutil.name_of(dep), {"metadata": {
                    "ownerReferences": gc.without_owner(dep, [uid]) or None,
                    "resourceVersion": podutil.meta(dep).get("resourceVersion")}},
                    namespace=podutil.namespace_of(dep) or None)
            except NotFound:
                pass
        for dep in plan.delete:
            # Each dependent decides its own deletion (its owners may include solid ones).
            self.queue.add(podutil.uid_of(dep))
        if plan.remove_finalizer:
            finalizers = [f for f in podutil.meta(owner).get("finalizers") or [] if f != plan.remove_finalizer]
            try:
                await self.client.patch(r, podutil.name_of(owner), {"metadata": {
                    "finalizers": finalizers or None,
                    "resourceVersion": podutil.meta(owner).get("resourceVersion")}},
                    namespace=podutil.namespace_of(owner) or None)
            except NotFound:
                pass
