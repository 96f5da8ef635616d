"""The Job controller's I/O (pkg/controller/job) and the TTL-after-finished cleanup.

Informers on Jobs and pods feed Job keys to a work queue; `reconcile` claims the Job's pods,
asks `decisions.plan_sync` what to do, creates/deletes pods under expectations, then tracks
terminated pods through `status.uncountedTerminatedPods` and the
`batch.kubernetes.io/job-tracking` finalizer so each pod is counted exactly once, and finally
writes Complete/Failed. A finished Job with `ttlSecondsAfterFinished` is deleted (background
propagation) once the TTL has passed.

It must never create pods while earlier creations are unobserved, never write a cached
object (it copies), never write status without a resourceVersion, and never count a pod
whose finalizer it has not first recorded in uncountedTerminatedPods."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime

from apimachinery.client import INDEX_CONTROLLER_UID, UIDTrackingControllerExpectations
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.informer import copy_object
from apimachinery.client.workqueue import Result
from apimachinery.errors import Conflict, NotFound, StatusError
from apimachinery.selectors import LabelSelector
from controllers import podutil
from controllers.base import (
    ORPHAN_INDEX,
    PODS,
    Controller,
    ControllerContext,
    claim,
    create_in_slow_start,
    gather_limited,
    owner_cache_key,
    owner_key,
    pod_from_template,
    res,
)
from controllers.job import decisions
from controllers.podutil import Obj

log = logging.getLogger(__name__)

JOBS = res("jobs", "batch")
ORPHAN_POD = "orphan-pod:"
"""Queue-key prefix of a pod whose Job is gone but which still holds the tracking finalizer."""
BACKOFF_ENV = "MIZZEN_JOB_BACKOFF_BASE_SECONDS"
"""Overrides the 10 s base of the pod failure backoff (tests only; Kubernetes has no knob)."""


def _backoff_base() -> float:
    try:
        return float(os.environ.get(BACKOFF_ENV, decisions.DEFAULT_BACKOFF))
    except ValueError:
        return decisions.DEFAULT_BACKOFF


class JobController(Controller):
    name = "job"

    def __init__(self, ctx: ControllerContext, *, clock: Callable[[], datetime] = podutil.now,
                 backoff_base: float | None = None):
        super().__init__(ctx)
        self.clock = clock
        self.backoff_base = _backoff_base() if backoff_base is None else backoff_base
        self.job_informer = ctx.informer(JOBS)
        self.pod_informer = ctx.informer(PODS)
        self.recorder = ctx.recorder("job-controller")
        self.expectations = UIDTrackingControllerExpectations()
        self.released: dict[str, set[str]] = {}
        """Per Job: uids of pods whose finalizer we removed but the cache may still show."""
        self.written: dict[str, str] = {}
        """Per Job: the resourceVersion of our last status write, until the cache shows it."""
        self.job_informer.add_handler(on_add=self.enqueue, on_update=self._job_updated, on_delete=self._job_deleted)
        self.pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                      on_delete=self._pod_deleted)

    # -- handlers -----------------------------------------------------------------------------

    def _job_updated(self, old: Obj, new: Obj) -> None:
        key = podutil.key_of(new)
        if key in self.written and _caught_up(podutil.meta(new).get("resourceVersion", ""), self.written[key]):
            self.written.pop(key, None)
        if podutil.only_status_changed(old, new) and not decisions.is_finished(new):
            return
        self.enqueue(new)

    def _job_deleted(self, job: Obj) -> None:
        key = podutil.key_of(job)
        self.expectations.delete(key)
        self.released.pop(key, None)
        self.written.pop(key, None)
        # Its pods may still hold our finalizer: release them, or they never go away.
        for p in self.pod_informer.store.by_index(INDEX_CONTROLLER_UID, podutil.uid_of(job)):
            if decisions.has_finalizer(p):
                self.queue.add(ORPHAN_POD + podutil.key_of(p))

    def _orphan_check(self, pod: Obj) -> bool:
        """A pod holding our finalizer whose Job is gone: queue it for release. True if so."""
        if not decisions.has_finalizer(pod):
            return False
        ok = owner_key(pod, "Job")
        if ok is None:
            self.queue.add(ORPHAN_POD + podutil.key_of(pod))
            return True
        job = self.job_informer.store.get(ok[0])
        if job is None or podutil.uid_of(job) != ok[1]:
            self.queue.add(ORPHAN_POD + podutil.key_of(pod))
            return True
        return False

    def _owner(self, pod: Obj) -> str | None:
        return owner_cache_key(self.job_informer, pod, "Job")

    def _pod_added(self, pod: Obj) -> None:
        if self._orphan_check(pod):
            return
        key = self._owner(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if self._orphan_check(new):
            return
        key = self._owner(new)
        if key is None:
            return
        if podutil.is_deleting(new) and not podutil.is_deleting(old):
            self.expectations.deletion_observed(key, podutil.key_of(new))
        if not decisions.has_finalizer(new):
            self.released.get(key, set()).discard(podutil.uid_of(new))
        self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, podutil.key_of(pod))
        self.released.get(key, set()).discard(podutil.uid_of(pod))
        self.queue.add(key)

    # -- reconcile ----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        if key.startswith(ORPHAN_POD):
            await self._release_orphan(key[len(ORPHAN_POD):])
            return None
        job = self.job_informer.store.get(key)
        if job is None:
            self.expectations.delete(key)
            self.released.pop(key, None)
            return None
        if key in self.written and not _caught_up(podutil.meta(job).get("resourceVersion", ""), self.written[key]):
            # The cache has not seen our last status write yet: deciding on the older status
            # would forget pods counted since (and create their replacements). Read it live.
            try:
                live = await self.client.get(JOBS, podutil.name_of(job), podutil.namespace_of(job))
            except NotFound:
                return None
            if podutil.uid_of(live) != podutil.uid_of(job):
                return None
            job = live
        at = self.clock()
        pods = await self._pods(job)
        released = self.released.setdefault(key, set())
        view = [p for p in pods if not (podutil.uid_of(p) in released and decisions.has_finalizer(p))]
        view += [_without_finalizer(p) for p in pods if podutil.uid_of(p) in released and decisions.has_finalizer(p)]

        if decisions.is_finished(job) or podutil.is_deleting(job):
            # Release whatever still holds our finalizer (a pod created just before the end,
            # or every pod of a Job being deleted: foreground deletion waits for them).
            await self._remove_finalizers(key, [p for p in view if decisions.has_finalizer(p)])
            return None if podutil.is_deleting(job) else await self._ttl(job, at)
        if not self.expectations.satisfied(key):
            return None

        plan = decisions.plan_sync(job, view, at, backoff_base=self.backoff_base)
        try:
            if plan.delete:
                await self._delete_pods(key, job, plan.delete)
            if plan.create:
                await self._create_pods(key, job, plan.create, plan.create_indexes)
        except StatusError as e:
            log.info("job %s: %s", key, e)
            return Result(requeue=True)
        for etype, reason, msg in plan.events:
            self.recorder.event(job, etype, reason, msg)

        status = plan.status
        try:
            if not decisions.status_equal(job.get("status"), status) or plan.finalize:
                job = await self._write_status(job, status)
            if plan.finalize:
                await self._remove_finalizers(key, plan.finalize)
            unc = status.get("uncountedTerminatedPods") or {}
            all_unc = set(unc.get("succeeded") or []) | set(unc.get("failed") or [])
            if all_unc:
                holding = {podutil.uid_of(p) for p in view if decisions.has_finalizer(p)
                           and podutil.uid_of(p) not in released}
                status = decisions.fold_uncounted(status, all_unc - holding, decisions.is_indexed(job))
            status, event = decisions.finish(status, at)
            if not decisions.status_equal(job.get("status"), status):
                job = await self._write_status(job, status)
            if event is not None:
                self.recorder.event(job, *event)
        except Conflict:
            return Result(requeue=True)
        except NotFound:
            return None
        if decisions.is_finished(job):
            return await self._ttl(job, at)
        return Result(requeue_after=plan.requeue_after) if plan.requeue_after else None

    async def _release_orphan(self, pod_key: str) -> None:
        """Remove our finalizer from a pod whose Job is gone (checked live, not in the cache)."""
        pod = self.pod_informer.store.get(pod_key)
        if pod is None or not decisions.has_finalizer(pod):
            return
        ok = owner_key(pod, "Job")
        if ok is not None:
            try:
                job = await self.client.get(JOBS, podutil.split_key(ok[0])[1], podutil.namespace_of(pod))
                if podutil.uid_of(job) == ok[1] and not podutil.is_deleting(job):
                    self.queue.add(ok[0])
                    return
            except NotFound:
                pass
        await self._remove_finalizers(ORPHAN_POD + pod_key, [pod])
        self.released.pop(ORPHAN_POD + pod_key, None)

    async def _write_status(self, job: Obj, status: Obj) -> Obj:
        updated = copy_object(job)
        updated["status"] = decisions.wire_status(status)
        out = await self.client.update_status(JOBS, updated)
        self.written[podutil.key_of(job)] = podutil.meta(out).get("resourceVersion", "")
        return out

    async def _ttl(self, job: Obj, at: datetime) -> Result | None:
        left = decisions.ttl_remaining(job, at)
        if left is None:
            return None
        if left > 0:
            return Result(requeue_after=left)
        try:
            await self.client.delete(JOBS, podutil.name_of(job), podutil.namespace_of(job),
                                     propagation_policy="Background", preconditions={"uid": podutil.uid_of(job)})
        except (NotFound, Conflict):
            pass
        return None

    async def _pods(self, job: Obj) -> list[Obj]:
        uid = podutil.uid_of(job)
        selector = LabelSelector.from_dict((job.get("spec") or {}).get("selector"))
        return await claim(self.client, PODS, job, "batch/v1", "Job",
                           self.pod_informer.store.by_index(INDEX_CONTROLLER_UID, uid),
                           self.pod_informer.store.by_index(ORPHAN_INDEX, podutil.namespace_of(job)), selector)

    async def _create_pods(self, key: str, job: Obj, n: int, indexes: list[int]) -> None:
        self.expectations.expect_creations(key, n)
        template = (job.get("spec") or {}).get("template") or {}
        base = pod_from_template(job, template, "batch/v1", "Job")
        ns = podutil.namespace_of(job)
        bodies = [decisions.pod_for_index(base, job, i) for i in indexes] if indexes else \
            [decisions.pod_for_index(base, job, None) for _ in range(n)]
        # Slow start (1, 2, 4, ...): a quota or admission error costs one call, not n.
        outcome = await create_in_slow_start(self.client, self.recorder, self.expectations, key, job, bodies, ns,
                                             limit=100)
        outcome.raise_failure()

    async def _delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> None:
        self.expectations.expect_deletions(key, [podutil.key_of(p) for p in pods])
        ns = podutil.namespace_of(job)
        results = await gather_limited([self.client.delete(PODS, podutil.name_of(p), ns,
                                                           preconditions={"uid": podutil.uid_of(p)})
                                        for p in pods], 100)
        for p, r in zip(pods, results, strict=True):
            if isinstance(r, BaseException):
                self.expectations.deletion_observed(key, podutil.key_of(p))
                if not isinstance(r, NotFound):
                    self.recorder.event(job, WARNING, "FailedDelete", f"Error deleting: {r}")
            else:
                self.recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {podutil.name_of(p)}")

    async def _remove_finalizers(self, key: str, pods: list[Obj]) -> None:
        released = self.released.setdefault(key, set())

        async def one(p: Obj) -> None:
            cur = p
            for _ in range(3):
                fins = [f for f in podutil.meta(cur).get("finalizers") or [] if f != decisions.TRACKING_FINALIZER]
                body = {"metadata": {"finalizers": fins or None,
                                     "resourceVersion": podutil.meta(cur).get("resourceVersion")}}
                try:
                    await self.client.patch(PODS, podutil.name_of(cur), body, namespace=podutil.namespace_of(cur))
                    released.add(podutil.uid_of(p))
                    return
                except NotFound:
                    released.add(podutil.uid_of(p))
                    return
                except Conflict:
                    cur = await self.client.get(PODS, podutil.name_of(p), podutil.namespace_of(p))
                    if podutil.uid_of(cur) != podutil.uid_of(p):
                        released.add(podutil.uid_of(p))
                        return
        results = await gather_limited([one(p) for p in pods], 100)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, NotFound):
                log.info("job %s: removing finalizer: %s", key, r)


def _caught_up(cached_rv: str, written_rv: str) -> bool:
    """Whether the cache holds our write or a later one (resourceVersions are opaque, but
    numeric ones, as mizzen's are, can be ordered)."""
    if cached_rv == written_rv:
        return True
    return cached_rv.isdigit() and written_rv.isdigit() and int(cached_rv) >= int(written_rv)


def _without_finalizer(pod: Obj) -> Obj:
    p = dict(pod)
    m = dict(podutil.meta(pod))
    m["finalizers"] = [f for f in m.get("finalizers") or [] if f != decisions.TRACKING_FINALIZER]
    p["metadata"] = m
    return p
