"""The Deployment controller's I/O: informers on Deployments, ReplicaSets and pods feed
Deployment keys to a work queue; `reconcile` makes one rollout step (create the new
ReplicaSet, scale it up, or scale old ones down), then writes status.

It never creates a second ReplicaSet for one template (the name is the template hash, so a
restarted controller finds the one it made), never writes a cached object (it copies), and
writes with the resourceVersion it read (a 409 requeues the key)."""

from __future__ import annotations

import logging

from apimachinery.client import INDEX_CONTROLLER_UID
from apimachinery.client.events import NORMAL
from apimachinery.client.informer import copy_object
from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, NotFound
from apimachinery.selectors import LabelSelector
from controllers import podutil
from controllers.base import (
    DEPLOYMENTS,
    ORPHAN_INDEX,
    PODS,
    REPLICASETS,
    Controller,
    ControllerContext,
    claim,
    owner_cache_key,
    owner_key,
)
from controllers.deployment import decisions as dd
from controllers.podutil import Obj

log = logging.getLogger(__name__)


class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.d_informer = ctx.informer(DEPLOYMENTS)
        self.rs_informer = ctx.informer(REPLICASETS)
        self.pod_informer = ctx.informer(PODS)
        self.recorder = ctx.recorder("deployment-controller")
        self.d_informer.add_handler(on_add=self.enqueue, on_update=self._d_updated, on_delete=self.enqueue)
        self.rs_informer.add_handler(on_add=self._rs_changed, on_update=self._rs_updated,
                                     on_delete=self._rs_changed)
        self.pod_informer.add_handler(on_delete=self._pod_deleted)

    # -- handlers ----------------------------------------------------------------------------

    def _d_updated(self, old: Obj, new: Obj) -> None:
        if podutil.only_status_changed(old, new):
            return  # our own status write coming back
        self.enqueue(new)

    def _owner(self, rs: Obj) -> str | None:
        return owner_cache_key(self.d_informer, rs, "Deployment")

    def _rs_changed(self, rs: Obj) -> None:
        key = self._owner(rs)
        if key is not None:
            self.queue.add(key)
        elif podutil.controller_ref(rs) is None:
            labels = podutil.labels_of(rs)
            for d in self.d_informer.store.by_index("namespace", podutil.namespace_of(rs)):
                sel = (d.get("spec") or {}).get("selector")
                if sel and LabelSelector.from_dict(sel).matches(labels):
                    self.enqueue(d)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        if podutil.meta(old).get("resourceVersion") == podutil.meta(new).get("resourceVersion"):
            return
        old_key = self._owner(old)
        if old_key and old_key != self._owner(new):
            self.queue.add(old_key)
        self._rs_changed(new)

    def _pod_deleted(self, pod: Obj) -> None:
        """Recreate waits for old pods to be gone: a pod deletion may unblock it."""
        ok = owner_key(pod, "ReplicaSet")
        if ok is None:
            return
        rs = self.rs_informer.store.get(ok[0])
        if rs is None:
            return
        key = self._owner(rs)
        d = self.d_informer.store.get(key) if key else None
        if d is not None and not dd.is_rolling(d):
            self.queue.add(key)

    # -- writes ------------------------------------------------------------------------------

    async def _update_status(self, d: Obj, status: Obj) -> Obj:
        upd = copy_object(d)
        upd["status"] = status
        return await self.client.update_status(DEPLOYMENTS, upd)

    async def _set_revision(self, d: Obj, revision: int) -> Obj:
        """Keep the Deployment's own revision annotation equal to its new ReplicaSet's."""
        if podutil.annotations_of(d).get(dd.REVISION) == str(revision):
            return d
        body = {"metadata": {"annotations": {dd.REVISION: str(revision)},
                             "resourceVersion": podutil.meta(d).get("resourceVersion")}}
        # Through /status, as Kubernetes does: an annotation change on the main resource would
        # bump the Deployment's generation (annotations are copied to ReplicaSets).
        return await self.client.patch(DEPLOYMENTS, podutil.name_of(d), body, namespace=podutil.namespace_of(d),
                                       subresource="status")

    async def _scale_rs(self, d: Obj, rs: Obj, size: int) -> Obj:
        """Set a ReplicaSet's replicas (and the desired/max-replicas annotations) and tell the
        user: `Scaled up replica set web-5d8b9 from 1 to 3`."""
        old = dd.spec_replicas(rs)
        if old == size and not dd.replicas_annotations_stale(d, rs):
            return rs
        upd = copy_object(rs)
        upd["spec"]["replicas"] = size
        ann = upd["metadata"].setdefault("annotations", {})
        ann[dd.DESIRED_REPLICAS] = str(dd.spec_replicas(d))
        ann[dd.MAX_REPLICAS] = str(dd.spec_replicas(d) + dd.max_surge(d))
        out = await self.client.replace(REPLICASETS, upd)
        if old != size:
            op = "up" if size > old else "down"
            self.recorder.event(d, NORMAL, "ScalingReplicaSet",
                                f"Scaled {op} replica set {podutil.name_of(rs)} from {old} to {size}")
        return out

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        cached = self.d_informer.store.get(key)
        if cached is None:
            return None
        d = copy_object(cached)
        selector = LabelSelector.from_dict((d.get("spec") or {}).get("selector"))
        uid = podutil.uid_of(d)
        try:
            rss = await claim(self.client, REPLICASETS, d, "apps/v1", "Deployment",
                              self.rs_informer.store.by_index(INDEX_CONTROLLER_UID, uid),
                              self.rs_informer.store.by_index(ORPHAN_INDEX, podutil.namespace_of(d)), selector)
            rss = [copy_object(rs) for rs in rss]
            if podutil.is_deleting(d):
                new = dd.find_new_rs(d, rss)
                await self._sync_status(d, rss, new)
                return None
            change = dd.paused_condition_change(d, podutil.now())
            if change is not None:
                st = copy_object(d.get("status") or {})
                podutil.set_condition(st, change)
                d = await self._update_status(d, st)
            if (d.get("spec") or {}).get("paused"):
                return await self._sync(d, rss)
            if dd.is_scaling_event(d, [rs for rs in rss if dd.is_active(rs)]):
                return await self._sync(d, rss)
            if dd.is_rolling(d):
                return await self._rolling(d, rss)
            return await self._recreate(d, rss)
        except NotFound:
            return None  # the Deployment went away mid-sync

    async def _new_and_old(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj, Obj | None, list[Obj]]:
        """The new ReplicaSet (created if asked and missing) with its revision synced, and the
        old ones (getAllReplicaSetsAndSyncRevision)."""
        new = dd.find_new_rs(d, rss)
        olds = dd.find_old_rss(rss, new)
        new_revision = dd.max_revision(olds) + 1
        at = podutil.now()
        if new is not None:
            ann, changed = dd.rs_annotations(d, new, new_revision, exists=True)
            min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
            if changed or int((new.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
                upd = copy_object(new)
                upd["metadata"]["annotations"] = ann
                upd["spec"]["minReadySeconds"] = min_ready
                new = await self.client.replace(REPLICASETS, upd)
            d = await self._set_revision(d, dd.revision_of(new))
            if dd.has_progress_deadline(d) and podutil.get_condition(d.get("status") or {}, "Progressing") is None:
                st = copy_object(d.get("status") or {})
                podutil.set_condition(st, dd.condition("Progressing", "True", dd.FOUND_NEW_RS,
                                                       f'Found new replica set "{podutil.name_of(new)}"', at))
                d = await self._update_status(d, st)
            return d, new, olds
        if not create:
            return d, None, olds
        replicas = dd.new_rs_new_replicas(d, olds, None)
        collision = (d.get("status") or {}).get("collisionCount")
        obj = dd.new_rs_object(d, new_revision, replicas, collision)
        try:
            created = await self.client.create(REPLICASETS, obj, podutil.namespace_of(d))
        except AlreadyExists:
            existing = await self.client.get(REPLICASETS, obj["metadata"]["name"], podutil.namespace_of(d))
            ref = podutil.controller_ref(existing)
            if ref is not None and ref.get("uid") == podutil.uid_of(d) and dd.equal_ignore_hash(
                    (existing.get("spec") or {}).get("template") or {}, (d.get("spec") or {}).get("template") or {}):
                return d, existing, olds  # ours: the cache had not seen it yet
            # A hash collision with someone else's ReplicaSet: bump collisionCount, hash anew.
            st = copy_object(d.get("status") or {})
            st["collisionCount"] = int(collision or 0) + 1
            await self._update_status(d, st)
            raise
        if replicas > 0:
            self.recorder.event(d, NORMAL, "ScalingReplicaSet",
                                f"Scaled up replica set {podutil.name_of(created)} from 0 to {replicas}")
        d = await self._set_revision(d, new_revision)
        if dd.has_progress_deadline(d):
            st = copy_object(d.get("status") or {})
            podutil.set_condition(st, dd.condition("Progressing", "True", dd.NEW_RS_CREATED,
                                                   f'Created new replica set "{podutil.name_of(created)}"', at))
            d = await self._update_status(d, st)
        return d, created, olds

    async def _sync_status(self, d: Obj, rss: list[Obj], new: Obj | None) -> Obj:
        st = dd.calculate_status(d, rss, new, podutil.now())
        if not dd.status_equal(d.get("status"), st):
            d = await self._update_status(d, st)
        return d

    async def _rollout_status(self, d: Obj, rss: list[Obj], new: Obj | None) -> Result | None:
        at = podutil.now()
        st = dd.rollout_status(d, rss, new, at)
        if not dd.status_equal(d.get("status"), st):
            d = await self._update_status(d, st)
        wait = dd.requeue_for_deadline(d, st, at)
        return Result(requeue_after=wait) if wait else None

    async def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        for rs in dd.rss_to_cleanup(d, olds):
            try:
                await self.client.delete(REPLICASETS, podutil.name_of(rs), podutil.namespace_of(rs),
                                         preconditions={"uid": podutil.uid_of(rs)})
            except NotFound:
                pass

    async def _apply_sizes(self, d: Obj, rss: list[Obj], sizes: dict[str, int]) -> list[Obj]:
        out = []
        for rs in rss:
            name = podutil.name_of(rs)
            if name in sizes:
                rs = await self._scale_rs(d, rs, sizes[name])
            out.append(rs)
        return out

    async def _sync(self, d: Obj, rss: list[Obj]) -> Result | None:
        """Paused or resized: scale proportionally, clean up history, write status (sync())."""
        d, new, olds = await self._new_and_old(d, rss, create=False)
        sizes = dd.scale(d, new, olds)
        every = olds + ([new] if new is not None else [])
        for rs in every:
            if dd.is_active(rs) and podutil.name_of(rs) not in sizes and dd.replicas_annotations_stale(d, rs) \
                    and len([x for x in every if dd.is_active(x)]) == 1:
                sizes[podutil.name_of(rs)] = dd.spec_replicas(rs)
        every = await self._apply_sizes(d, every, sizes)
        new = next((rs for rs in every if new is not None and podutil.uid_of(rs) == podutil.uid_of(new)), None)
        olds = [rs for rs in every if rs is not new]
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, olds)
        await self._sync_status(d, every, new)
        return None

    async def _rolling(self, d: Obj, rss: list[Obj]) -> Result | None:
        """One RollingUpdate step (rolloutRolling): scale the new ReplicaSet up, else old ones
        down, else (complete) clean up old history; then the rollout status."""
        d, new, olds = await self._new_and_old(d, rss, create=True)
        assert new is not None
        every = olds + [new]
        target = dd.reconcile_new_rs(d, every, new)
        if target is not None:
            new = await self._scale_rs(d, new, target)
            return await self._rollout_status(d, olds + [new], new)
        downs = dd.reconcile_old_rss(d, olds, new)
        if downs:
            olds = await self._apply_sizes(d, olds, downs)
            return await self._rollout_status(d, olds + [new], new)
        # Complete (as the status about to be written says): prune old history now; our own
        # status write coming back does not wake this controller again.
        if dd.deployment_complete(d, dd.rollout_status(d, every, new, podutil.now())):
            await self._cleanup(d, olds)
        return await self._rollout_status(d, every, new)

    async def _recreate(self, d: Obj, rss: list[Obj]) -> Result | None:
        """Recreate (rolloutRecreate): every old ReplicaSet to 0, wait until no old pod runs,
        then create/scale the new ReplicaSet."""
        d, new, olds = await self._new_and_old(d, rss, create=False)
        active = [rs for rs in olds if dd.is_active(rs)]
        if active:
            olds = await self._apply_sizes(d, olds, {podutil.name_of(rs): 0 for rs in active})
            return await self._rollout_status(d, olds + ([new] if new else []), new)
        old_pods = [p for rs in olds for p in self.pod_informer.store.by_index(INDEX_CONTROLLER_UID, podutil.uid_of(rs))]
        if dd.old_pods_running(old_pods):
            return await self._rollout_status(d, olds + ([new] if new else []), new)
        if new is None:
            d, new, olds = await self._new_and_old(d, rss, create=True)
            assert new is not None
        if dd.spec_replicas(new) != dd.spec_replicas(d):
            new = await self._scale_rs(d, new, dd.spec_replicas(d))
        if dd.deployment_complete(d, dd.rollout_status(d, olds + [new], new, podutil.now())):
            await self._cleanup(d, olds)
        return await self._rollout_status(d, olds + [new], new)
