"""The StatefulSet controller's I/O: informers on StatefulSets, pods and ControllerRevisions
feed set keys to a work queue; `reconcile` claims revisions and pods, finds the current and
update revisions (creating the latter), runs the pure `decisions.plan`, does its writes (PVCs
before their pod), prunes history and writes status.

Pod names are the set's identity, so creation is idempotent (AlreadyExists is not an error)
and no expectations are needed: the next pod event brings the next step. It must never write
a cached object (it copies) and never act on a set being deleted."""

from __future__ import annotations

import logging

from apimachinery.client import INDEX_CONTROLLER_UID
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.informer import copy_object
from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, NotFound, StatusError
from apimachinery.selectors import LabelSelector
from controllers import podutil
from controllers.base import (
    CONTROLLERREVISIONS,
    ORPHAN_INDEX,
    PODS,
    Controller,
    ControllerContext,
    claim,
    owner_cache_key,
    res,
)
from controllers.daemonset.decisions import histories_to_cleanup, revision_matches
from controllers.podutil import Obj
from controllers.statefulset import decisions as d

log = logging.getLogger(__name__)

STATEFULSETS = res("statefulsets", "apps")
PVCS = res("persistentvolumeclaims")


def revision_template(cr: Obj) -> Obj:
    """The pod template a ControllerRevision stores (its replace-patch, without `$patch`)."""
    t = dict((((cr.get("data") or {}).get("spec")) or {}).get("template") or {})
    t.pop("$patch", None)
    return t


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.sts_informer = ctx.informer(STATEFULSETS)
        self.pod_informer = ctx.informer(PODS)
        self.cr_informer = ctx.informer(CONTROLLERREVISIONS)
        self.recorder = ctx.recorder("statefulset-controller")
        self.sts_informer.add_handler(on_add=self.enqueue, on_update=self._sts_updated, on_delete=self.enqueue)
        self.pod_informer.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                      on_delete=self._pod_changed)
        self.cr_informer.add_handler(on_add=self._pod_changed, on_delete=self._pod_changed)

    # -- handlers ----------------------------------------------------------------------------

    def _sts_updated(self, old: Obj, new: Obj) -> None:
        if podutil.only_status_changed(old, new):
            return
        self.enqueue(new)

    def _owner(self, obj: Obj) -> str | None:
        return owner_cache_key(self.sts_informer, obj, "StatefulSet")

    def _enqueue_matching(self, pod: Obj) -> None:
        labels = podutil.labels_of(pod)
        for sts in self.sts_informer.store.by_index("namespace", podutil.namespace_of(pod)):
            sel = (sts.get("spec") or {}).get("selector")
            if sel and LabelSelector.from_dict(sel).matches(labels):
                self.enqueue(sts)

    def _pod_changed(self, pod: Obj) -> None:
        key = self._owner(pod)
        if key is not None:
            self.queue.add(key)
        elif podutil.controller_ref(pod) is None and not podutil.is_deleting(pod):
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not podutil.pod_change_matters(old, new):
            return
        self._pod_changed(new)

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        cached = self.sts_informer.store.get(key)
        if cached is None or podutil.is_deleting(cached):
            return None
        try:
            return await self._sync(copy_object(cached))
        except NotFound:
            return None

    async def _sync(self, sts: Obj) -> Result | None:
        selector = LabelSelector.from_dict((sts.get("spec") or {}).get("selector"))
        uid, ns = podutil.uid_of(sts), podutil.namespace_of(sts)
        histories = await claim(self.client, CONTROLLERREVISIONS, sts, "apps/v1", "StatefulSet",
                                self.cr_informer.store.by_index(INDEX_CONTROLLER_UID, uid),
                                self.cr_informer.store.by_index(ORPHAN_INDEX, ns), selector)
        update_cr, histories = await self._update_revision(sts, histories)
        # Revisions are named by their ControllerRevision's name, which is also what the pods'
        # controller-revision-hash label and status.currentRevision/updateRevision hold.
        update = podutil.name_of(update_cr)
        cur_name = (sts.get("status") or {}).get("currentRevision")
        current_cr = next((h for h in histories if podutil.name_of(h) == cur_name), update_cr)
        current = podutil.name_of(current_cr)
        pods = await claim(self.client, PODS, sts, "apps/v1", "StatefulSet",
                           self.pod_informer.store.by_index(INDEX_CONTROLLER_UID, uid),
                           self.pod_informer.store.by_index(ORPHAN_INDEX, ns), selector)
        at = podutil.now()
        step = d.plan(sts, pods, current, update, at)
        error: StatusError | None = None
        try:
            templates = {update: (sts.get("spec") or {}).get("template") or {},
                         current: revision_template(current_cr) if current != update else None}
            for ordinal, rev in step.create:
                await self._create_pod(sts, ordinal, rev, templates.get(rev))
            for name in step.delete:
                await self._delete_pod(sts, name, next(p for p in pods if podutil.name_of(p) == name))
            for p in pods:
                patch = d.identity_labels_patch(sts, p)
                if patch is not None and not podutil.is_deleting(p):
                    patch["metadata"]["resourceVersion"] = podutil.meta(p).get("resourceVersion")
                    try:
                        await self.client.patch(PODS, podutil.name_of(p), patch, namespace=ns)
                    except StatusError as e:
                        if e.code not in (404, 409):
                            raise
            names = {d.pod_revision(p) for p in pods} | {current, update}
            live = {podutil.labels_of(h).get(d.REVISION_HASH, "") for h in histories if podutil.name_of(h) in names}
            for h in histories_to_cleanup(sts, histories, update_cr, live):
                try:
                    await self.client.delete(CONTROLLERREVISIONS, podutil.name_of(h), ns)
                except NotFound:
                    pass
        except StatusError as e:
            error = e
        status = d.calculate_status(sts, pods, current, update, at)
        if d.status_changed(sts.get("status"), status):
            upd = copy_object(sts)
            upd["status"] = {**(sts.get("status") or {}), **status}
            await self.client.update_status(STATEFULSETS, upd)
        if error is not None:
            raise error
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and status["availableReplicas"] < status["readyReplicas"]:
            return Result(requeue_after=float(min_ready))
        return None

    async def _update_revision(self, sts: Obj, histories: list[Obj]) -> tuple[Obj, list[Obj]]:
        """The ControllerRevision equal to the template (renumbered to max+1 when rolled back
        to), created if none is; on a name collision with different data the set's
        collisionCount goes up and the sync is retried."""
        ns = podutil.namespace_of(sts)
        matching = [h for h in histories if revision_matches(sts, h)]
        top = max((int(h.get("revision") or 0) for h in histories), default=0)
        if matching:
            cr = max(matching, key=lambda h: int(h.get("revision") or 0))
            if int(cr.get("revision") or 0) < top:
                upd = copy_object(cr)
                upd["revision"] = top + 1
                new = await self.client.replace(CONTROLLERREVISIONS, upd)
                histories = [new if podutil.uid_of(h) == podutil.uid_of(new) else h for h in histories]
                return new, histories
            return cr, histories
        obj = d.new_controller_revision(sts, top + 1)
        try:
            created = await self.client.create(CONTROLLERREVISIONS, obj, ns)
        except AlreadyExists:
            existing = await self.client.get(CONTROLLERREVISIONS, obj["metadata"]["name"], ns)
            ref = podutil.controller_ref(existing)
            if ref is not None and ref.get("uid") == podutil.uid_of(sts) and revision_matches(sts, existing):
                return existing, [*histories, existing]
            upd = copy_object(sts)
            upd["status"] = {**(sts.get("status") or {}),
                             "collisionCount": int((sts.get("status") or {}).get("collisionCount") or 0) + 1}
            await self.client.update_status(STATEFULSETS, upd)
            raise
        return created, [*histories, created]

    async def _create_pod(self, sts: Obj, ordinal: int, rev: str, template: Obj | None) -> None:
        set_name, ns = podutil.name_of(sts), podutil.namespace_of(sts)
        pod = d.new_pod(sts, ordinal, rev, template)
        name = podutil.name_of(pod)
        for pvc in d.new_pvcs(sts, ordinal):
            claim_name = podutil.name_of(pvc)
            try:
                await self.client.create(PVCS, pvc, ns)
                self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                                    f"create Claim {claim_name} Pod {name} in StatefulSet {set_name} success")
            except AlreadyExists:
                pass
            except StatusError as e:
                self.recorder.event(sts, WARNING, "FailedCreate",
                                    f"create Claim {claim_name} for Pod {name} in StatefulSet {set_name} failed "
                                    f"error: {e}")
                raise
        try:
            await self.client.create(PODS, pod, ns)
        except AlreadyExists:
            return  # the cache had not seen it yet
        except StatusError as e:
            self.recorder.event(sts, WARNING, "FailedCreate",
                                f"create Pod {name} in StatefulSet {set_name} failed error: {e}")
            raise
        self.recorder.event(sts, NORMAL, "SuccessfulCreate", f"create Pod {name} in StatefulSet {set_name} successful")

    async def _delete_pod(self, sts: Obj, name: str, pod: Obj) -> None:
        set_name, ns = podutil.name_of(sts), podutil.namespace_of(sts)
        for claim_name in d.claims_released_on_scale_down(sts, pod):
            await self._own_claim_by_pod(claim_name, ns, pod)
        try:
            await self.client.delete(PODS, name, ns, preconditions={"uid": podutil.uid_of(pod)})
        except NotFound:
            return
        except StatusError as e:
            if e.code == 409:
                return  # replaced meanwhile: the next sync sees the new pod
            self.recorder.event(sts, WARNING, "FailedDelete",
                                f"delete Pod {name} in StatefulSet {set_name} failed error: {e}")
            raise
        self.recorder.event(sts, NORMAL, "SuccessfulDelete", f"delete Pod {name} in StatefulSet {set_name} successful")

    async def _own_claim_by_pod(self, claim_name: str, ns: str, pod: Obj) -> None:
        """Add the condemned pod as an owner of its claim, so the garbage collector deletes
        the claim after the pod (persistentVolumeClaimRetentionPolicy.whenScaled: Delete)."""
        try:
            pvc = await self.client.get(PVCS, claim_name, ns)
        except NotFound:
            return
        refs = [dict(r) for r in podutil.meta(pvc).get("ownerReferences") or []]
        if any(r.get("uid") == podutil.uid_of(pod) for r in refs):
            return
        refs.append(d.owner_ref(pod, "v1", "Pod"))
        await self.client.patch(PVCS, claim_name, {"metadata": {
            "ownerReferences": refs, "resourceVersion": podutil.meta(pvc).get("resourceVersion")}}, namespace=ns)
