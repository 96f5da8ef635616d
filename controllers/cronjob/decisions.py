"""Pure decisions of the CronJob controller, after Kubernetes' pkg/controller/cronjob (v2).

Which scheduled time is due, how the Job for it is named and built, which active Jobs have
finished, and which finished Jobs the history limits remove. No I/O, no clock (callers pass
`now`), no mutation of inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from controllers import podutil
from controllers.cronjob.schedule import Schedule
from controllers.podutil import Obj

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100
"""Past this many missed start times, Kubernetes warns (TooManyMissedTimes) and runs only the latest."""


@dataclass
class Due:
    time: datetime | None
    """The most recent scheduled time in (earliest, now], or None."""
    missed: int
    """How many scheduled times fell in that window (> 1: runs were missed)."""
    next: datetime
    """The first scheduled time after now."""


def most_recent_schedule(cronjob: Obj, schedule: Schedule, now: datetime) -> Due:
    """The scheduled time to run now (mostRecentScheduleTime): scheduled times after the last
    run (or the CronJob's creation), not older than startingDeadlineSeconds, up to `now`.

    Worked example: schedule `*/5 * * * *`, lastScheduleTime 10:02, now 10:16 -> times 10:05,
    10:10, 10:15: the run for 10:15 is due, 3 were in the window, next is 10:20."""
    st = cronjob.get("status") or {}
    earliest = podutil.parse_time(st.get("lastScheduleTime")) or podutil.creation_time(cronjob) or now
    sds = (cronjob.get("spec") or {}).get("startingDeadlineSeconds")
    if sds is not None:
        earliest = max(earliest, now - timedelta(seconds=int(sds)))
    t = schedule.next(earliest)
    last: datetime | None = None
    missed = 0
    while t <= now:
        last = t
        missed += 1
        if missed == MAX_MISSED:
            # Too many to walk one by one (a `* * * * *` CronJob created a year ago): jump to
            # the smallest recent window that still holds a scheduled time. `missed` then
            # only says "more than MAX_MISSED".
            for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=367)):
                start = now - window
                if start > t and (t2 := schedule.next(start)) <= now:
                    t = t2
                    break
            else:
                t = schedule.next(t)
            continue
        t = schedule.next(t)
    return Due(last, missed, t)


def job_name(cronjob: Obj, scheduled: datetime) -> str:
    """`<cronjob>-<scheduled time in minutes since the epoch>` (getJobName)."""
    return f"{podutil.name_of(cronjob)}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cronjob: Obj, scheduled: datetime, tz_name: str | None = None) -> Obj:
    """The Job for `scheduled` (getJobFromTemplate2): the template's labels and annotations,
    the scheduled-timestamp annotation (RFC 3339 in the CronJob's zone), a controller
    ownerReference to the CronJob."""
    import copy
    jt = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tm = jt.get("metadata") or {}
    t = scheduled.astimezone(scheduled.tzinfo or UTC)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S") + (t.strftime("%z")[:3] + ":" + t.strftime("%z")[3:]
                                               if t.utcoffset() else "Z")
    meta: Obj = {"name": job_name(cronjob, scheduled), "namespace": podutil.namespace_of(cronjob),
                 "labels": dict(tm.get("labels") or {}),
                 "annotations": {**(tm.get("annotations") or {}), SCHEDULED_TIMESTAMP: stamp},
                 "ownerReferences": [podutil.new_controller_ref(cronjob, "batch/v1", "CronJob")]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": copy.deepcopy(jt.get("spec") or {})}


def job_finished(job: Obj) -> str | None:
    """"Complete" or "Failed" when the Job has that condition True, else None."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c["type"]
    return None


def job_ref(job: Obj) -> Obj:
    m = podutil.meta(job)
    return {"kind": "Job", "namespace": m.get("namespace", ""), "name": m.get("name", ""),
            "uid": m.get("uid", ""), "apiVersion": "batch/v1", "resourceVersion": m.get("resourceVersion", "")}


def history_to_delete(jobs: list[Obj], successful_limit: int | None, failed_limit: int | None) -> list[Obj]:
    """Finished Jobs beyond the history limits, oldest first (cleanupFinishedJobs: sorted by
    start time, Jobs without one first)."""
    out: list[Obj] = []
    for kind, limit in (("Complete", successful_limit), ("Failed", failed_limit)):
        if limit is None:
            continue
        done = [j for j in jobs if job_finished(j) == kind and not podutil.is_deleting(j)]
        done.sort(key=lambda j: ((j.get("status") or {}).get("startTime") or "", podutil.name_of(j)))
        if len(done) > limit:
            out.extend(done[:len(done) - limit])
    return out


def format_time(t: datetime) -> str:
    return podutil.format_time(t)
