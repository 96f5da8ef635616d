"""The CronJob controller's I/O (pkg/controller/cronjob, the v2 controller).

Informers on CronJobs and Jobs feed CronJob keys to a work queue. `reconcile` refreshes
`status.active` from the CronJob's Jobs (SawCompletedJob, lastSuccessfulTime), creates the
Job of the most recent due schedule under the concurrencyPolicy (Allow / Forbid / Replace)
and startingDeadlineSeconds, trims finished Jobs to the history limits, and asks to be
requeued at the next scheduled time: it never polls.

It never writes a cached object (it copies), never writes status without a
resourceVersion, and never creates a second Job for one scheduled time (the Job name is a
function of that time, so a retry hits AlreadyExists)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apimachinery.client import INDEX_CONTROLLER_UID
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.informer import copy_object
from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError
from controllers import podutil
from controllers.base import Controller, ControllerContext, owner_key, res
from controllers.cronjob import decisions
from controllers.cronjob.schedule import ScheduleError, load_zone, parse
from controllers.podutil import Obj

log = logging.getLogger(__name__)

CRONJOBS = res("cronjobs", "batch")
JOBS = res("jobs", "batch")
NEXT_SCHEDULE_DELTA = 0.1  # Kubernetes' nextScheduleDelta: wake just after the scheduled time


def _q(s: str) -> str:
    """Go's %q of a plain string (double quotes, escapes)."""
    return json.dumps(s)


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, ctx: ControllerContext, *, clock: Callable[[], datetime] = podutil.now):
        super().__init__(ctx)
        self.clock = clock
        self.cj_informer = ctx.informer(CRONJOBS)
        self.job_informer = ctx.informer(JOBS)
        self.recorder = ctx.recorder("cronjob-controller")
        self.cj_informer.add_handler(on_add=self.enqueue, on_update=self._cj_updated)
        self.job_informer.add_handler(on_add=self._job_changed, on_update=lambda old, new: self._job_changed(new),
                                      on_delete=self._job_changed)

    def _cj_updated(self, old: Obj, new: Obj) -> None:
        # Any change, status included (updateCronJob): a rewritten lastScheduleTime or a
        # resumed CronJob can make a run due now. Our own status write costs one idle sync.
        if podutil.meta(old).get("resourceVersion") != podutil.meta(new).get("resourceVersion"):
            self.enqueue(new)

    def _job_changed(self, job: Obj) -> None:
        ok = owner_key(job, "CronJob")
        if ok is not None:
            self.queue.add(ok[0])

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        cj = self.cj_informer.store.get(key)
        if cj is None:
            return None
        now = self.clock()
        spec = cj.get("spec") or {}
        jobs = self.job_informer.store.by_index(INDEX_CONTROLLER_UID, podutil.uid_of(cj))
        listed = {r.get("uid") for r in (cj.get("status") or {}).get("active") or []}
        if any(podutil.uid_of(j) not in listed and not decisions.job_finished(j) for j in jobs):
            # A running Job of ours missing from `active`: our status write may not be in
            # the cache yet. Decide on the live CronJob (syncCronJob re-reads it too).
            try:
                live = await self.client.get(CRONJOBS, podutil.name_of(cj), podutil.namespace_of(cj))
            except NotFound:
                return None
            if podutil.uid_of(live) != podutil.uid_of(cj):
                return None
            cj = live
        status = copy_object(cj.get("status") or {})
        await self._refresh_active(cj, status, jobs)

        result: Result | None = None
        if not podutil.is_deleting(cj) and not spec.get("suspend"):
            try:
                result = await self._schedule(cj, status, now)
            except StatusError as e:
                log.info("cronjob %s: %s", key, e)
                result = Result(requeue=True)
        if status != (cj.get("status") or {}):
            updated = copy_object(cj)
            updated["status"] = status
            try:
                await self.client.update_status(CRONJOBS, updated)
            except Conflict:
                return Result(requeue=True)
            except NotFound:
                return None
        if not podutil.is_deleting(cj):
            await self._cleanup(cj, jobs)
        return result

    async def _refresh_active(self, cj: Obj, status: Obj, jobs: list[Obj]) -> None:
        active = list(status.get("active") or [])
        uids = {r.get("uid") for r in active}
        by_uid = {podutil.uid_of(j): j for j in jobs}
        for j in jobs:
            finished = decisions.job_finished(j)
            uid = podutil.uid_of(j)
            if finished and uid in uids:
                active = [r for r in active if r.get("uid") != uid]
                self.recorder.event(cj, NORMAL, "SawCompletedJob",
                                    f"Saw completed job: {podutil.name_of(j)}, status: {finished}")
            elif not finished and uid not in uids:
                # Ours but not listed (a crash between create and status write, or a manual
                # `kubectl create job --from=cronjob/x`): reported, not adopted, as v1.32 does.
                self.recorder.event(cj, WARNING, "UnexpectedJob",
                                    f"Saw a job that the controller did not create or forgot: {podutil.name_of(j)}")
            if finished == "Complete":
                done = (j.get("status") or {}).get("completionTime")
                last = status.get("lastSuccessfulTime")
                if done and (not last or podutil.parse_time(done) > podutil.parse_time(last)):  # type: ignore[operator]
                    status["lastSuccessfulTime"] = done
        for r in list(active):
            if r.get("uid") in by_uid:
                continue
            try:
                got = await self.client.get(JOBS, r.get("name", ""), podutil.namespace_of(cj))
                if podutil.uid_of(got) == r.get("uid"):
                    continue
            except NotFound:
                pass
            active = [x for x in active if x.get("uid") != r.get("uid")]
            self.recorder.event(cj, NORMAL, "MissingJob", f"Active job went missing: {r.get('name')}")
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    async def _schedule(self, cj: Obj, status: Obj, now: datetime) -> Result | None:
        spec = cj.get("spec") or {}
        tz_name = spec.get("timeZone")
        if tz_name:
            try:
                load_zone(tz_name)
            except ScheduleError as e:
                self.recorder.event(cj, WARNING, "UnknownTimeZone", f"invalid timeZone: {_q(tz_name)}: {e}")
                return None
        try:
            sched = parse(spec.get("schedule", ""), tz_name)
        except ScheduleError as e:
            self.recorder.event(cj, WARNING, "UnparseableSchedule",
                                f"unparseable schedule: {_q(spec.get('schedule', ''))} : {e}")
            return None
        view = dict(cj)
        view["status"] = status
        due = decisions.most_recent_schedule(view, sched, now)
        wait = Result(requeue_after=max(0.0, (due.next - now).total_seconds()) + NEXT_SCHEDULE_DELTA)
        if due.time is None:
            return wait
        if due.missed > decisions.MAX_MISSED:
            self.recorder.event(cj, WARNING, "TooManyMissedTimes",
                                f"too many missed start times: {due.missed}. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        sds = spec.get("startingDeadlineSeconds")
        if sds is not None and (now - due.time).total_seconds() > int(sds):
            self.recorder.event(cj, WARNING, "MissSchedule", "Missed scheduled time to start a job: "
                                + due.time.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S %z"))
            return wait
        name = decisions.job_name(cj, due.time)
        active = list(status.get("active") or [])
        if any(r.get("name") == name for r in active) or status.get("lastScheduleTime") == \
                decisions.format_time(due.time):
            return wait
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            self.recorder.event(cj, NORMAL, "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is Forbid")
            return wait
        if policy == "Replace":
            for r in active:
                try:
                    await self.client.delete(JOBS, r.get("name", ""), podutil.namespace_of(cj),
                                             propagation_policy="Background")
                except NotFound:
                    pass
                self.recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {r.get('name')}")
            active = []
        body = decisions.job_from_template(cj, due.time)
        try:
            job = await self.client.create(JOBS, body, podutil.namespace_of(cj))
            self.recorder.event(cj, NORMAL, "SuccessfulCreate", f"Created job {name}")
        except AlreadyExists:
            job = await self.client.get(JOBS, name, podutil.namespace_of(cj))
            ref = podutil.controller_ref(job)
            if ref is None or ref.get("uid") != podutil.uid_of(cj):
                return wait
        except StatusError as e:
            self.recorder.event(cj, WARNING, "FailedCreate", f"Error creating job: {e}")
            raise
        if not decisions.job_finished(job) and not any(r.get("uid") == podutil.uid_of(job) for r in active):
            active.append(decisions.job_ref(job))
        if active:
            status["active"] = active
        else:
            status.pop("active", None)
        status["lastScheduleTime"] = decisions.format_time(due.time)
        return wait

    async def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj.get("spec") or {}
        for j in decisions.history_to_delete(jobs, spec.get("successfulJobsHistoryLimit"),
                                             spec.get("failedJobsHistoryLimit")):
            try:
                await self.client.delete(JOBS, podutil.name_of(j), podutil.namespace_of(j),
                                         propagation_policy="Background", preconditions={"uid": podutil.uid_of(j)})
            except (NotFound, Conflict):
                continue
            self.recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {podutil.name_of(j)}")
