"""The ReplicaSet controller's I/O: informers on ReplicaSets and pods feed ReplicaSet keys to a
work queue; `reconcile` adopts/releases pods, creates or deletes pods in slow-start batches
under expectations, and writes status.

It must never create a pod while earlier creations are unobserved (expectations), never
write a cached object (it copies), and never write without a resourceVersion."""

from __future__ import annotations

import logging

from apimachinery.client import INDEX_CONTROLLER_UID, UIDTrackingControllerExpectations
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.informer import copy_object
from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError
from apimachinery.selectors import LabelSelector
from controllers import podutil
from controllers.base import (
    ORPHAN_INDEX,
    PODS,
    REPLICASETS,
    Controller,
    ControllerContext,
    claim,
    create_in_slow_start,
    gather_limited,
    owner_cache_key,
    pod_from_template,
)
from controllers.podutil import Obj
from controllers.replicaset import decisions

log = logging.getLogger(__name__)


class ReplicaSetController(Controller):
    name = "replicaset"
    # What the ReplicationController subclass changes: its resource, kind and selector form.
    resource = REPLICASETS
    kind = "ReplicaSet"
    api_version = "apps/v1"
    component = "replicaset-controller"

    @staticmethod
    def selector_of(spec: Obj) -> LabelSelector:
        return LabelSelector.from_dict(spec.get("selector"))

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.rs_informer = ctx.informer(self.resource)
        self.pod_informer = ctx.informer(PODS)
        self.recorder = ctx.recorder(self.component)
        self.expectations = UIDTrackingControllerExpectations()
        self.rs_informer.add_handler(on_add=self.enqueue, on_update=self._rs_updated, on_delete=self._rs_deleted)
        self.pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                      on_delete=self._pod_deleted)

    # -- handlers: enqueue keys, note expectations ------------------------------------------

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        if podutil.only_status_changed(old, new):
            return  # our own status write coming back
        self.enqueue(new)

    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.delete(podutil.key_of(rs))
        self.enqueue(rs)

    def _owner(self, pod: Obj) -> str | None:
        return owner_cache_key(self.rs_informer, pod, self.kind)

    def _enqueue_matching(self, pod: Obj) -> None:
        """An orphan changed: every ReplicaSet in its namespace whose selector matches may adopt it."""
        labels = podutil.labels_of(pod)
        for rs in self.rs_informer.store.by_index("namespace", podutil.namespace_of(pod)):
            spec = rs.get("spec") or {}
            if spec.get("selector") and self.selector_of(spec).matches(labels):
                self.enqueue(rs)

    def _pod_added(self, pod: Obj) -> None:
        if podutil.is_deleting(pod):
            self._pod_deleted(pod)
            return
        key = self._owner(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif podutil.controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not podutil.pod_change_matters(old, new):
            return
        if podutil.is_deleting(new) and not podutil.is_deleting(old):
            # Graceful deletion starts now: the pod no longer counts, so this is the deletion.
            self._pod_deleted(new)
            return
        old_key, new_key = self._owner(old), self._owner(new)
        if old_key and old_key != new_key:
            self.queue.add(old_key)
        if new_key:
            self.queue.add(new_key)
        elif podutil.controller_ref(new) is None and (
                podutil.labels_of(old) != podutil.labels_of(new) or podutil.controller_ref(old) is not None):
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, podutil.key_of(pod))
        self.queue.add(key)

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        rs = self.rs_informer.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            return None
        spec = rs.get("spec") or {}
        selector = self.selector_of(spec)
        satisfied = self.expectations.satisfied(key)
        deleting = podutil.is_deleting(rs)

        pods = await self._claim_pods(rs, selector, deleting)
        active = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")
                  and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        at = podutil.now()
        manage_error: str | None = None
        diff = 0
        collided = 0
        if satisfied and not deleting:
            diff = decisions.replicas_diff(decisions_replicas(rs), len(active))
            try:
                if diff > 0:
                    collided = await self._create_pods(key, rs, diff)
                elif diff < 0:
                    related = self._related_pods(rs) if podutil.controller_ref(rs) else active
                    await self._delete_pods(key, rs, decisions.pods_to_delete(active, related, -diff, at))
            except StatusError as e:
                manage_error = str(e)
        status = decisions.calculate_status(rs, active, manage_error, diff, at)
        if not decisions.status_equal(rs.get("status"), status):
            updated = copy_object(rs)
            updated["status"] = status
            try:
                try:
                    await self.client.update_status(self.resource, updated)
                except Conflict:
                    # The cache lags our own writes (or the Deployment's scaling): the counts
                    # come from the pods, so re-read the ReplicaSet and write once more
                    # (updateReplicaSetStatus does the same) rather than back off.
                    fresh = await self.client.get(self.resource, podutil.name_of(rs), podutil.namespace_of(rs))
                    if podutil.uid_of(fresh) != podutil.uid_of(rs):
                        return None
                    status = decisions.calculate_status(fresh, active, manage_error, diff, at)
                    if not decisions.status_equal(fresh.get("status"), status):
                        fresh["status"] = status
                        await self.client.update_status(self.resource, fresh)
            except NotFound:
                return None
        if manage_error is not None or collided:
            return Result(requeue=True)
        wait = decisions.requeue_for_availability(rs, active, at)
        return Result(requeue_after=wait) if wait else None

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Active pods of every ReplicaSet with the same controller (for the doubled-up rank)."""
        ref = podutil.controller_ref(rs)
        out: list[Obj] = []
        if ref is None:
            return out
        for sibling in self.rs_informer.store.by_index(INDEX_CONTROLLER_UID, ref.get("uid", "")):
            out.extend(p for p in self.pod_informer.store.by_index(INDEX_CONTROLLER_UID, podutil.uid_of(sibling))
                       if podutil.is_pod_active(p))
        return out

    async def _claim_pods(self, rs: Obj, selector: LabelSelector, deleting: bool) -> list[Obj]:
        uid = podutil.uid_of(rs)
        return await claim(self.client, PODS, rs, self.api_version, self.kind,
                           self.pod_informer.store.by_index(INDEX_CONTROLLER_UID, uid),
                           self.pod_informer.store.by_index(ORPHAN_INDEX, podutil.namespace_of(rs)), selector)

    async def _create_pods(self, key: str, rs: Obj, n: int) -> int:
        """Create `n` pods (slow start, under expectations). Returns how many creates met a
        pod of the same generated name (nothing was created: the caller requeues to make up
        for them; no failure is reported for that)."""
        self.expectations.expect_creations(key, n)
        template = (rs.get("spec") or {}).get("template") or {}
        body = pod_from_template(rs, template, self.api_version, self.kind)
        outcome = await create_in_slow_start(self.client, self.recorder, self.expectations, key, rs, [body] * n,
                                             podutil.namespace_of(rs), limit=250, tolerate=AlreadyExists)
        outcome.raise_failure()
        return outcome.tolerated

    async def _delete_pods(self, key: str, rs: Obj, pods: list[Obj]) -> None:
        self.expectations.expect_deletions(key, [podutil.key_of(p) for p in pods])
        ns = podutil.namespace_of(rs)
        results = await gather_limited([self.client.delete(PODS, podutil.name_of(p), ns,
                                                           preconditions={"uid": podutil.uid_of(p)})
                                        for p in pods], 250)
        first: BaseException | None = None
        for p, r in zip(pods, results, strict=True):
            if isinstance(r, BaseException):
                self.expectations.deletion_observed(key, podutil.key_of(p))
                if not isinstance(r, NotFound) and first is None:
                    first = r
                    self.recorder.event(rs, WARNING, "FailedDelete", f"Error deleting: {r}")
            else:
                self.recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {podutil.name_of(p)}")
        if first is not None:
            raise first if isinstance(first, StatusError) else StatusError(500, "InternalError", str(first))


def decisions_replicas(rs: Obj) -> int:
    r = (rs.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)
