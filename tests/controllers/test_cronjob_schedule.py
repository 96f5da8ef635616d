"""Cron schedule parsing and next times (table tests), and the CronJob controller's pure
decisions: which scheduled time is due, the Job it creates, history limits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controllers.cronjob import decisions
from controllers.cronjob.schedule import ScheduleError, parse


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC) if "+" not in s else datetime.fromisoformat(s)


@pytest.mark.parametrize("spec,after,expected", [
    ("* * * * *", "2024-05-01T10:00:30", "2024-05-01T10:01:00"),
    ("* * * * *", "2024-05-01T10:00:00", "2024-05-01T10:01:00"),
    ("*/15 * * * *", "2024-05-01T10:07:00", "2024-05-01T10:15:00"),
    ("*/15 * * * *", "2024-05-01T10:45:00", "2024-05-01T11:00:00"),
    ("5 * * * *", "2024-05-01T10:05:00", "2024-05-01T11:05:00"),
    ("0 0 * * *", "2024-12-31T23:59:00", "2025-01-01T00:00:00"),
    ("@hourly", "2024-05-01T10:30:00", "2024-05-01T11:00:00"),
    ("@daily", "2024-05-01T10:30:00", "2024-05-02T00:00:00"),
    ("@midnight", "2024-05-01T10:30:00", "2024-05-02T00:00:00"),
    ("@weekly", "2024-05-01T10:30:00", "2024-05-05T00:00:00"),  # Sunday
    ("@monthly", "2024-05-01T10:30:00", "2024-06-01T00:00:00"),
    ("@yearly", "2024-05-01T10:30:00", "2025-01-01T00:00:00"),
    ("@annually", "2024-05-01T10:30:00", "2025-01-01T00:00:00"),
    ("0 9-17/4 * * *", "2024-05-01T10:00:00", "2024-05-01T13:00:00"),
    ("30 9 * * mon-fri", "2024-05-03T10:00:00", "2024-05-06T09:30:00"),  # Fri -> Mon
    ("0 0 * * 7", "2024-05-01T00:00:00", "2024-05-05T00:00:00"),  # 7 is Sunday too
    ("0 0 1 jan,jul *", "2024-05-01T00:00:00", "2024-07-01T00:00:00"),
    ("0 0 31 * *", "2024-04-15T00:00:00", "2024-05-31T00:00:00"),  # April has no 31st
    ("0 0 29 2 *", "2025-01-01T00:00:00", "2028-02-29T00:00:00"),
    # Day-of-month and day-of-week both restricted: either matches (1st or a Monday).
    ("0 0 1 * 1", "2024-05-01T00:00:00", "2024-05-06T00:00:00"),
    # One of them a star: both must match (a Monday, any day of month).
    ("0 0 * * 1", "2024-05-01T00:00:00", "2024-05-06T00:00:00"),
    ("0 0 ? * 1", "2024-05-01T00:00:00", "2024-05-06T00:00:00"),
    ("3/20 * * * *", "2024-05-01T10:24:00", "2024-05-01T10:43:00"),
    ("1,2,58 * * * *", "2024-05-01T10:03:00", "2024-05-01T10:58:00"),
])
def test_next(spec: str, after: str, expected: str) -> None:
    assert parse(spec).next(t(after)) == t(expected)


def test_time_zone_prefix_and_field() -> None:
    ny = ZoneInfo("America/New_York")
    # 09:00 in New York on 2024-05-01 is 13:00 UTC (EDT).
    for s in (parse("CRON_TZ=America/New_York 0 9 * * *"), parse("TZ=America/New_York 0 9 * * *"),
              parse("0 9 * * *", "America/New_York")):
        got = s.next(t("2024-05-01T12:00:00"))
        assert got == datetime(2024, 5, 1, 9, 0, tzinfo=ny)
        assert got.astimezone(UTC) == t("2024-05-01T13:00:00")


def test_daylight_saving_changes() -> None:
    ny = ZoneInfo("America/New_York")
    s = parse("0 * * * *", "America/New_York")
    # Fall back (2024-11-03): 01:00 EDT and 01:00 EST are both run, an hour apart in UTC.
    first = s.next(datetime(2024, 11, 3, 0, 30, tzinfo=ny))
    second = s.next(first)
    assert (first.astimezone(UTC), second.astimezone(UTC)) == (t("2024-11-03T05:00:00"), t("2024-11-03T06:00:00"))
    # Every result moves forward in real time.
    times = [datetime(2024, 3, 10, 0, 30, tzinfo=ny)]
    for _ in range(5):
        times.append(s.next(times[-1]))
    assert all(a.astimezone(UTC) < b.astimezone(UTC) for a, b in itertools.pairwise(times))


@pytest.mark.parametrize("spec", ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
                                  "* * * 13 *", "* * * * 8", "*/0 * * * *", "a * * * *", "5-1 * * * *",
                                  "@every 5m", "@fortnightly"])
def test_invalid_schedules(spec: str) -> None:
    with pytest.raises(ScheduleError):
        parse(spec)


def test_unknown_zone() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone"):
        parse("* * * * *", "Mars/Olympus")


def cronjob(schedule: str = "*/5 * * * *", *, created: str = "2024-05-01T09:00:00Z", last: str | None = None,
            sds: int | None = None) -> dict:
    cj: dict = {"apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": "tick", "namespace": "default", "uid": "u1", "creationTimestamp": created},
                "spec": {"schedule": schedule, "jobTemplate": {
                    "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
                "status": {}}
    if last:
        cj["status"]["lastScheduleTime"] = last
    if sds is not None:
        cj["spec"]["startingDeadlineSeconds"] = sds
    return cj


@pytest.mark.parametrize("last,now,sds,due,missed,nxt", [
    # The worked example of the docstring.
    ("2024-05-01T10:02:00Z", "2024-05-01T10:16:00", None, "2024-05-01T10:15:00", 3, "2024-05-01T10:20:00"),
    # Nothing due yet.
    ("2024-05-01T10:15:00Z", "2024-05-01T10:19:59", None, None, 0, "2024-05-01T10:20:00"),
    # Exactly at the scheduled time.
    ("2024-05-01T10:15:00Z", "2024-05-01T10:20:00", None, "2024-05-01T10:20:00", 1, "2024-05-01T10:25:00"),
    # startingDeadlineSeconds bounds how far back we look.
    ("2024-05-01T08:00:00Z", "2024-05-01T10:16:00", 200, "2024-05-01T10:15:00", 1, "2024-05-01T10:20:00"),
    ("2024-05-01T08:00:00Z", "2024-05-01T10:19:00", 60, None, 0, "2024-05-01T10:20:00"),
    # Never run: counts from creation.
    (None, "2024-05-01T09:07:00", None, "2024-05-01T09:05:00", 1, "2024-05-01T09:10:00"),
])
def test_most_recent_schedule(last: str | None, now: str, sds: int | None, due: str | None, missed: int,
                              nxt: str) -> None:
    got = decisions.most_recent_schedule(cronjob(last=last, sds=sds), parse("*/5 * * * *"), t(now))
    assert got.time == (t(due) if due else None)
    assert got.missed == missed
    assert got.next == t(nxt)


def test_many_missed_times_jump_to_the_latest() -> None:
    now = t("2025-05-01T10:16:30")
    got = decisions.most_recent_schedule(cronjob("* * * * *", created="2024-05-01T00:00:00Z"),
                                         parse("* * * * *"), now)
    assert got.time == t("2025-05-01T10:16:00")
    assert got.missed > decisions.MAX_MISSED
    assert got.next == t("2025-05-01T10:17:00")


def test_job_from_template() -> None:
    at = t("2024-05-01T10:15:00")
    job = decisions.job_from_template(cronjob(), at)
    m = job["metadata"]
    assert m["name"] == f"tick-{int(at.timestamp()) // 60}" == "tick-28575975"
    assert m["labels"] == {"team": "a"}
    assert m["annotations"] == {"note": "x", decisions.SCHEDULED_TIMESTAMP: "2024-05-01T10:15:00Z"}
    ref = m["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("CronJob", "tick", "u1", True)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    ny = decisions.job_from_template(cronjob(), datetime(2024, 5, 1, 9, 0, tzinfo=ZoneInfo("America/New_York")))
    assert ny["metadata"]["annotations"][decisions.SCHEDULED_TIMESTAMP] == "2024-05-01T09:00:00-04:00"


def job(name: str, cond: str | None, start_min: int) -> dict:
    j: dict = {"metadata": {"name": name, "uid": name},
               "status": {"startTime": (t("2024-05-01T10:00:00") + timedelta(minutes=start_min))
                          .strftime("%Y-%m-%dT%H:%M:%SZ")}}
    if cond:
        j["status"]["conditions"] = [{"type": cond, "status": "True"}]
    return j


@pytest.mark.parametrize("succ_limit,fail_limit,expected", [
    (3, 1, ["c1", "f1", "f2"]),
    (0, 0, ["c1", "c2", "c3", "c4", "f1", "f2", "f3"]),
    (10, 10, []),
    (None, None, []),
])
def test_history_limits(succ_limit: int | None, fail_limit: int | None, expected: list[str]) -> None:
    jobs = [job("c3", "Complete", 3), job("c1", "Complete", 1), job("c4", "Complete", 4), job("c2", "Complete", 2),
            job("f2", "Failed", 2), job("f1", "Failed", 1), job("f3", "Failed", 3), job("run", None, 5)]
    got = [j["metadata"]["name"] for j in decisions.history_to_delete(jobs, succ_limit, fail_limit)]
    assert got == expected
