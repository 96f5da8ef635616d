"""The CronJob controller's reconcile without a server (a fake API writing into the informer
caches) and on a fake clock: a due run creates its Job and records lastScheduleTime; nothing
runs before the schedule (requeue until it); Forbid skips while a Job runs, Replace deletes
it, Allow runs both; a finished Job leaves `active` (SawCompletedJob, lastSuccessfulTime);
history limits delete old Jobs; startingDeadlineSeconds misses; suspend and bad schedules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apimachinery.client import InformerFactory
from apimachinery.client.informer import copy_object
from apimachinery.client.rest import ApiClient
from apimachinery.errors import AlreadyExists, NotFound
from controllers.base import ControllerContext
from controllers.cronjob.controller import CronJobController
from controllers.podutil import key_of

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


class Events:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str, **_: Any) -> None:
        self.events.append((reason, message))


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make(**spec: Any) -> tuple[CronJobController, Clock, Events, dict]:
    client = ApiClient(server="https://127.0.0.1:9")
    clock = Clock()
    ctrl = CronJobController(ControllerContext(client, InformerFactory(client)), clock=clock)
    jobs, cjs = ctrl.job_informer.store, ctrl.cj_informer.store
    uids = itertools.count(1)

    async def create(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
        new = copy_object(obj)
        key = f"{namespace}/{new['metadata']['name']}"
        if jobs.get(key) is not None:
            raise AlreadyExists("jobs", new["metadata"]["name"])
        new["metadata"].update(uid=f"job-{next(uids)}", resourceVersion="1", creationTimestamp=iso(clock.t))
        jobs._put(key, new)
        return new

    async def get(res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict:
        got = (cjs if getattr(res, "plural", "") == "cronjobs" else jobs).get(f"{namespace}/{name}")
        if got is None:
            raise NotFound("jobs", name)
        return got

    async def delete(res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict:
        if jobs._remove(f"{namespace}/{name}") is None:
            raise NotFound("jobs", name)
        return {}

    async def update_status(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
        new = copy_object(obj)
        cjs._put(key_of(new), new)
        return new
    client.create, client.get, client.delete = create, get, delete  # type: ignore[method-assign]
    client.update_status = update_status  # type: ignore[method-assign]
    events = Events()
    ctrl.recorder = events  # type: ignore[assignment]
    cj = {"apiVersion": "batch/v1", "kind": "CronJob",
          "metadata": {"name": "tick", "namespace": "default", "uid": "cj-uid", "resourceVersion": "1",
                       "creationTimestamp": iso(T0 + timedelta(seconds=30))},
          "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow", "suspend": False,
                   "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                   "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
                   **spec},
          "status": {}}
    cjs._put("default/tick", cj)
    return ctrl, clock, events, cj


def cronjob(ctrl: CronJobController) -> dict:
    return ctrl.cj_informer.store.get("default/tick")


def jobs(ctrl: CronJobController) -> list[str]:
    return sorted(j["metadata"]["name"] for j in ctrl.job_informer.store.list())


def finish(ctrl: CronJobController, name: str, cond: str, at: datetime) -> None:
    j = copy_object(ctrl.job_informer.store.get(f"default/{name}"))
    j["status"] = {"startTime": iso(at - timedelta(seconds=5)),
                   "conditions": [{"type": cond, "status": "True"}]}
    if cond == "Complete":
        j["status"]["completionTime"] = iso(at)
    ctrl.job_informer.store._put(f"default/{name}", j)


def name_at(t: datetime) -> str:
    return f"tick-{int(t.timestamp()) // 60}"


async def test_runs_at_the_schedule_and_waits_until_the_next() -> None:
    ctrl, clock, events, _ = make()
    clock.t = T0 + timedelta(seconds=60)
    res = await ctrl.reconcile("default/tick")
    assert jobs(ctrl) == []   # created 10:00:30, next run 10:05
    assert res is not None and res.requeue_after == pytest.approx(240.1)
    clock.t = T0 + timedelta(minutes=5, seconds=2)
    res = await ctrl.reconcile("default/tick")
    due = T0 + timedelta(minutes=5)
    assert jobs(ctrl) == [name_at(due)]
    st = cronjob(ctrl)["status"]
    assert st["lastScheduleTime"] == iso(due)
    assert [r["name"] for r in st["active"]] == [name_at(due)]
    assert st["active"][0]["kind"] == "Job" and st["active"][0]["apiVersion"] == "batch/v1"
    assert ("SuccessfulCreate", f"Created job {name_at(due)}") in events.events
    assert res is not None and res.requeue_after == pytest.approx(298.1)
    job = ctrl.job_informer.store.get(f"default/{name_at(due)}")
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == iso(due)
    assert job["metadata"]["ownerReferences"][0]["uid"] == "cj-uid"
    # Idempotent: the same due time never creates a second Job.
    await ctrl.reconcile("default/tick")
    assert jobs(ctrl) == [name_at(due)]


async def test_completed_job_leaves_active() -> None:
    ctrl, clock, events, _ = make()
    clock.t = T0 + timedelta(minutes=5)
    await ctrl.reconcile("default/tick")
    first = name_at(clock.t)
    finish(ctrl, first, "Complete", clock.t + timedelta(seconds=20))
    clock.t += timedelta(seconds=30)
    await ctrl.reconcile("default/tick")
    st = cronjob(ctrl)["status"]
    assert "active" not in st
    assert st["lastSuccessfulTime"] == iso(T0 + timedelta(minutes=5, seconds=20))
    assert ("SawCompletedJob", f"Saw completed job: {first}, status: Complete") in events.events


@pytest.mark.parametrize("policy,expected_jobs,deleted", [
    ("Allow", 2, False),
    ("Forbid", 1, False),
    ("Replace", 1, True),
])
async def test_concurrency_policy(policy: str, expected_jobs: int, deleted: bool) -> None:
    ctrl, clock, events, _ = make(concurrencyPolicy=policy)
    clock.t = T0 + timedelta(minutes=5)
    await ctrl.reconcile("default/tick")
    first = name_at(clock.t)
    clock.t = T0 + timedelta(minutes=10)
    await ctrl.reconcile("default/tick")
    second = name_at(clock.t)
    names = jobs(ctrl)
    assert len(names) == expected_jobs
    active = [r["name"] for r in cronjob(ctrl)["status"]["active"]]
    if policy == "Allow":
        assert active == [first, second]
    elif policy == "Forbid":
        assert active == [first] and names == [first]
        assert ("JobAlreadyActive", "Not starting job because prior execution is running and concurrency "
                                    "policy is Forbid") in events.events
        # The prior run finishes: the missed run starts now (no startingDeadlineSeconds).
        finish(ctrl, first, "Complete", clock.t)
        clock.t += timedelta(seconds=10)
        await ctrl.reconcile("default/tick")
        assert jobs(ctrl) == [first, second]
    else:
        assert active == [second] and names == [second]
        assert ("SuccessfulDelete", f"Deleted job {first}") in events.events


async def test_history_limits_delete_old_jobs() -> None:
    ctrl, clock, events, _ = make(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0)
    made = []
    for i, cond in enumerate(["Complete", "Complete", "Failed"]):
        clock.t = T0 + timedelta(minutes=5 * (i + 1))
        await ctrl.reconcile("default/tick")
        made.append(name_at(clock.t))
        finish(ctrl, made[-1], cond, clock.t + timedelta(seconds=10))
    clock.t += timedelta(seconds=20)
    await ctrl.reconcile("default/tick")
    assert jobs(ctrl) == [made[1]]
    assert ("SuccessfulDelete", f"Deleted job {made[0]}") in events.events
    assert ("SuccessfulDelete", f"Deleted job {made[2]}") in events.events


async def test_starting_deadline_misses_a_late_run() -> None:
    ctrl, clock, events, cj = make(startingDeadlineSeconds=10)
    clock.t = T0 + timedelta(minutes=5, seconds=30)   # 30 s late, deadline 10 s
    res = await ctrl.reconcile("default/tick")
    assert jobs(ctrl) == []
    assert res is not None and res.requeue_after == pytest.approx(270.1)
    clock.t = T0 + timedelta(minutes=10, seconds=5)
    await ctrl.reconcile("default/tick")
    assert jobs(ctrl) == [name_at(T0 + timedelta(minutes=10))]


async def test_job_missing_from_active_is_reported_not_adopted() -> None:
    ctrl, clock, events, _ = make()
    await ctrl.client.create("jobs", {"metadata": {"name": "manual", "ownerReferences": [
        {"kind": "CronJob", "name": "tick", "uid": "cj-uid", "controller": True}]}}, "default")
    clock.t = T0 + timedelta(minutes=1)
    await ctrl.reconcile("default/tick")
    assert ("UnexpectedJob", "Saw a job that the controller did not create or forgot: manual") in events.events
    assert "active" not in cronjob(ctrl)["status"]


async def test_suspended_cronjob_runs_nothing() -> None:
    ctrl, clock, _, _ = make(suspend=True)
    clock.t = T0 + timedelta(minutes=30)
    assert await ctrl.reconcile("default/tick") is None
    assert jobs(ctrl) == []


@pytest.mark.parametrize("spec,reason,message", [
    ({"schedule": "61 * * * *"}, "UnparseableSchedule", 'unparseable schedule: "61 * * * *" : '),
    ({"timeZone": "Mars/Olympus"}, "UnknownTimeZone", 'invalid timeZone: "Mars/Olympus": '),
])
async def test_bad_schedule_is_reported(spec: dict, reason: str, message: str) -> None:
    ctrl, clock, events, _ = make(**spec)
    clock.t = T0 + timedelta(minutes=30)
    assert await ctrl.reconcile("default/tick") is None
    assert jobs(ctrl) == [] and [e[0] for e in events.events] == [reason]
    assert events.events[0][1].startswith(message)


async def test_time_zone_schedule() -> None:
    # 06:05 in New York (EDT, UTC-4) is 10:05 UTC.
    ctrl, clock, _, _ = make(schedule="5 6 * * *", timeZone="America/New_York")
    clock.t = T0 + timedelta(minutes=5, seconds=1)
    await ctrl.reconcile("default/tick")
    (name,) = jobs(ctrl)
    job = ctrl.job_informer.store.get(f"default/{name}")
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        "2024-05-01T06:05:00-04:00"
    assert cronjob(ctrl)["status"]["lastScheduleTime"] == "2024-05-01T10:05:00Z"
