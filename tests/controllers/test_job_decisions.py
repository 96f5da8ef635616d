"""The Job controller's pure decisions: how many pods to create or delete, how terminated
pods are counted through uncountedTerminatedPods, when a Job succeeds or fails and why,
backoff, indexes, suspend, TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.job import decisions as d

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ts(s: float) -> str:
    return (T0 + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(*, completions: int | None = 1, parallelism: int = 1, backoff: int = 6, indexed: bool = False,
        restart: str = "Never", suspend: bool = False, status: dict | None = None, **spec: Any) -> dict:
    s: dict[str, Any] = {"parallelism": parallelism, "backoffLimit": backoff,
                         "completionMode": "Indexed" if indexed else "NonIndexed", "suspend": suspend,
                         "podReplacementPolicy": "TerminatingOrFailed",
                         "template": {"metadata": {"labels": {"app": "x"}},
                                      "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "i"}]}},
                         **spec}
    if completions is not None:
        s["completions"] = completions
    st = {"startTime": ts(0)}
    st.update(status or {})
    return {"metadata": {"name": "j", "namespace": "default", "uid": "job-uid"}, "spec": s, "status": st}


def pod(name: str, phase: str = "Running", *, finalizer: bool = True, ready: bool = True, finished: float = 10,
        index: int | None = None, deleting: bool = False, restarts: int = 0, code: int | None = None) -> dict:
    state: dict = {"running": {}}
    if phase in ("Succeeded", "Failed"):
        state = {"terminated": {"exitCode": code if code is not None else (0 if phase == "Succeeded" else 1),
                                "finishedAt": ts(finished)}}
    p: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "uid": name, "creationTimestamp": ts(0),
                     "finalizers": [d.TRACKING_FINALIZER] if finalizer else []},
        "status": {"phase": phase,
                   "conditions": [{"type": "Ready", "status": "True" if ready and phase == "Running" else "False",
                                   "lastTransitionTime": ts(0)}],
                   "containerStatuses": [{"name": "c", "restartCount": restarts, "state": state}]}}
    if index is not None:
        p["metadata"]["annotations"] = {d.COMPLETION_INDEX: str(index)}
    if deleting:
        p["metadata"]["deletionTimestamp"] = ts(5)
    return p


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


@pytest.mark.parametrize("completions,parallelism,succeeded,active,create,delete", [
    (1, 1, 0, 0, 1, 0),
    (5, 2, 0, 0, 2, 0),
    # The docstring's worked example.
    (5, 2, 3, 1, 1, 0),
    (5, 2, 4, 0, 1, 0),
    (5, 3, 4, 2, 0, 1),   # only one completion left: one of two active pods goes
    (None, 3, 0, 0, 3, 0),  # work queue: parallelism pods
    (None, 3, 1, 2, 0, 0),  # one succeeded: no new pods, the others finish
    (3, 0, 0, 0, 0, 0),   # parallelism 0 runs nothing
])
def test_pods_to_create_and_delete(completions: int | None, parallelism: int, succeeded: int, active: int,
                                   create: int, delete: int) -> None:
    j = job(completions=completions, parallelism=parallelism, status={"succeeded": succeeded})
    plan = d.plan_sync(j, [pod(f"p{i}") for i in range(active)], at(20))
    assert (plan.create, len(plan.delete)) == (create, delete)
    assert plan.status["active"] == active - delete + create


def test_success_goes_through_uncounted_then_complete() -> None:
    j = job()
    p = pod("p0", "Succeeded")
    plan = d.plan_sync(j, [p], at(20))
    st = plan.status
    assert st["uncountedTerminatedPods"] == {"succeeded": ["p0"]}
    assert st["succeeded"] == 0
    assert [x["metadata"]["name"] for x in plan.finalize] == ["p0"]
    assert {c["type"]: c["reason"] for c in st["conditions"]} == {"SuccessCriteriaMet": "CompletionsReached"}
    assert plan.create == 0
    # Not complete while the pod is uncounted ...
    assert d.finish(st, at(20)) == (st, None)
    # ... the finalizer is removed, the uid moves into the counter, then Complete.
    folded = d.fold_uncounted(st, {"p0"}, indexed=False)
    assert folded["succeeded"] == 1 and folded["uncountedTerminatedPods"] == {}
    done, event = d.finish(folded, at(21))
    assert event == ("Normal", "Completed", "Job completed")
    types = {c["type"]: c for c in done["conditions"]}
    assert types["Complete"]["status"] == "True" and types["Complete"]["reason"] == "CompletionsReached"
    assert done["completionTime"] == ts(21)


def test_a_counted_pod_is_never_counted_again() -> None:
    j = job(completions=2, status={"succeeded": 1})
    plan = d.plan_sync(j, [pod("p0", "Succeeded", finalizer=False)], at(20))
    assert plan.status["succeeded"] == 1 and plan.status["uncountedTerminatedPods"] == {}
    assert plan.create == 1 and plan.finalize == []
    # Already in uncounted (finalizer removal pending): not added twice.
    j = job(completions=2, status={"uncountedTerminatedPods": {"succeeded": ["p0"]}})
    plan = d.plan_sync(j, [pod("p0", "Succeeded")], at(20))
    assert plan.status["uncountedTerminatedPods"] == {"succeeded": ["p0"]}


@pytest.mark.parametrize("backoff,failed_before,new_failures,reason", [
    (1, 0, 1, None),                      # 1 failure, limit 1: not exceeded
    (1, 1, 1, "BackoffLimitExceeded"),    # 2 > 1
    (0, 0, 1, "BackoffLimitExceeded"),
    (6, 5, 1, None),
    (6, 6, 1, "BackoffLimitExceeded"),
])
def test_backoff_limit(backoff: int, failed_before: int, new_failures: int, reason: str | None) -> None:
    j = job(backoff=backoff, status={"failed": failed_before})
    plan = d.plan_sync(j, [pod(f"f{i}", "Failed") for i in range(new_failures)], at(100))
    assert plan.finished_reason == reason
    if reason:
        ft = d.podutil.get_condition(plan.status, "FailureTarget")
        assert ft["message"] == "Job has reached the specified backoff limit"
        folded = d.fold_uncounted(plan.status, {f"f{i}" for i in range(new_failures)}, False)
        done, event = d.finish(folded, at(101))
        assert event == ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        assert d.podutil.get_condition(done, "Failed")["reason"] == "BackoffLimitExceeded"
        assert folded["failed"] == failed_before + new_failures


def test_failure_deletes_active_pods_and_waits_for_them() -> None:
    j = job(completions=3, parallelism=2, backoff=0)
    plan = d.plan_sync(j, [pod("f0", "Failed"), pod("r1")], at(100))
    assert [p["metadata"]["name"] for p in plan.delete] == ["r1"]
    assert plan.status["terminating"] == 1 and plan.status["active"] == 0
    folded = d.fold_uncounted(plan.status, {"f0"}, False)
    assert d.finish(folded, at(100))[1] is None  # r1 still terminating
    # Next sync: r1 is being deleted; counted as failed, and then Failed is written.
    j2 = job(completions=3, parallelism=2, backoff=0, status=folded)
    plan2 = d.plan_sync(j2, [pod("f0", "Failed", finalizer=False), pod("r1", deleting=True)], at(101))
    assert plan2.status["uncountedTerminatedPods"] == {"failed": ["r1"]}
    folded2 = d.fold_uncounted({**plan2.status, "terminating": 0}, {"r1"}, False)
    done, event = d.finish(folded2, at(102))
    assert event is not None and event[1] == "BackoffLimitExceeded"
    assert done["failed"] == 2


@pytest.mark.parametrize("restarts,backoff,fails", [(0, 1, False), (1, 1, True), (1, 0, True), (2, 3, False),
                                                    (3, 3, True)])
def test_on_failure_restarts_count(restarts: int, backoff: int, fails: bool) -> None:
    j = job(backoff=backoff, restart="OnFailure")
    plan = d.plan_sync(j, [pod("p", restarts=restarts)], at(10))
    assert (plan.finished_reason == "BackoffLimitExceeded") is fails


def test_never_restarts_do_not_count() -> None:
    assert d.plan_sync(job(backoff=1), [pod("p", restarts=5)], at(10)).finished_reason is None


@pytest.mark.parametrize("failures,base,expected", [(0, 10, 0), (1, 10, 10), (2, 10, 20), (3, 10, 40),
                                                    (6, 10, 320), (7, 10, 360), (30, 10, 360), (2, 0.5, 1.0)])
def test_backoff_delay(failures: int, base: float, expected: float) -> None:
    assert d.backoff_delay(failures, base) == expected


def test_backoff_delays_the_replacement_pod() -> None:
    j = job(backoff=6, status={"failed": 2})
    pods = [pod("f0", "Failed", finalizer=False, finished=0), pod("f1", "Failed", finalizer=False, finished=10)]
    plan = d.plan_sync(j, pods, at(15))          # 2 failures: 20 s from the last (t=10)
    assert plan.create == 0 and plan.requeue_after == pytest.approx(15)
    assert d.plan_sync(j, pods, at(30)).create == 1
    # A success resets the count: only failures after it count.
    ok = pod("s", "Succeeded", finalizer=False, finished=5)
    assert d.remaining_backoff(pods + [ok], at(15)) == pytest.approx(5)


def test_active_deadline() -> None:
    j = job(activeDeadlineSeconds=30)
    plan = d.plan_sync(j, [pod("p")], at(10))
    assert plan.finished_reason is None and plan.requeue_after == pytest.approx(20)
    plan = d.plan_sync(j, [pod("p")], at(30))
    assert plan.finished_reason == "DeadlineExceeded"
    assert d.podutil.get_condition(plan.status, "FailureTarget")["message"] == \
        "Job was active longer than specified deadline"
    assert [p["metadata"]["name"] for p in plan.delete] == ["p"]


def test_suspend_and_resume() -> None:
    plan = d.plan_sync(job(suspend=True), [pod("p")], at(10))
    assert [p["metadata"]["name"] for p in plan.delete] == ["p"] and plan.create == 0
    cond = d.podutil.get_condition(plan.status, "Suspended")
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "JobSuspended", "Job suspended")
    assert "startTime" not in plan.status
    assert plan.events == [("Normal", "Suspended", "Job suspended")]
    resumed = job(status={"conditions": plan.status["conditions"]})
    resumed["status"].pop("startTime")
    plan2 = d.plan_sync(resumed, [], at(20))
    cond = d.podutil.get_condition(plan2.status, "Suspended")
    assert (cond["status"], cond["reason"]) == ("False", "JobResumed")
    assert plan2.status["startTime"] == ts(20) and plan2.create == 1


def test_indexed_creates_missing_indexes_and_tracks_completed() -> None:
    j = job(completions=5, parallelism=3, indexed=True, status={"completedIndexes": "0,2"})
    plan = d.plan_sync(j, [pod("a", index=1), pod("b", "Succeeded", index=3)], at(10))
    assert plan.status["completedIndexes"] == "0,2-3"
    assert plan.create_indexes == [4]  # 3 parallel: index 1 runs, 0/2/3 done, 4 is next
    # A duplicate success of a completed index is released but not counted.
    plan = d.plan_sync(j, [pod("dup", "Succeeded", index=0)], at(10))
    assert plan.status.get("uncountedTerminatedPods") == {} and [p["metadata"]["name"] for p in plan.finalize] == ["dup"]


def test_indexed_completes_when_every_index_succeeded() -> None:
    j = job(completions=3, parallelism=3, indexed=True, status={"completedIndexes": "0-1", "succeeded": 2})
    plan = d.plan_sync(j, [pod("c", "Succeeded", index=2)], at(10))
    assert plan.finished_reason == "CompletionsReached"
    folded = d.fold_uncounted(plan.status, {"c"}, indexed=True)
    assert folded["succeeded"] == 3 and folded["completedIndexes"] == "0-2"


def test_indexed_surplus_pods_are_deleted() -> None:
    j = job(completions=4, parallelism=4, indexed=True, status={"completedIndexes": "0"})
    pods = [pod("done-again", index=0), pod("a1", index=1), pod("a1-dup", index=1, ready=False),
            pod("none"), pod("big", index=9), pod("a2", index=2)]
    plan = d.plan_sync(j, pods, at(10))
    assert sorted(p["metadata"]["name"] for p in plan.delete) == ["a1-dup", "big", "done-again", "none"]
    assert plan.create_indexes == [3]
    assert plan.status["active"] == 3   # a1, a2 and the new index 3


def test_indexed_parallelism_down_stops_the_highest_indexes() -> None:
    j = job(completions=4, parallelism=1, indexed=True)
    plan = d.plan_sync(j, [pod("a0", index=0), pod("a2", index=2), pod("a1", index=1)], at(10))
    assert sorted(p["metadata"]["name"] for p in plan.delete) == ["a1", "a2"] and plan.create == 0


@pytest.mark.parametrize("s,n,expected", [("", 5, set()), ("0", 5, {0}), ("1,3-5,7", 10, {1, 3, 4, 5, 7}),
                                          ("1,3-5,7", 5, {1, 3, 4})])
def test_parse_indexes(s: str, n: int, expected: set[int]) -> None:
    assert d.parse_indexes(s, n) == expected


@pytest.mark.parametrize("indexes,expected", [(set(), ""), ({0}, "0"), ({0, 1}, "0-1"), ({1, 3, 4, 5, 7}, "1,3-5,7")])
def test_format_indexes(indexes: set[int], expected: str) -> None:
    assert d.format_indexes(indexes) == expected


def test_pod_for_index() -> None:
    base = {"metadata": {"generateName": "j-", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}
    p = d.pod_for_index(base, job(), 2)
    m = p["metadata"]
    assert m["generateName"] == "j-2-" and m["annotations"][d.COMPLETION_INDEX] == "2"
    assert m["labels"][d.COMPLETION_INDEX] == "2" and m["labels"][d.JOB_NAME] == "j"
    assert m["labels"][d.CONTROLLER_UID] == "job-uid" and m["finalizers"] == [d.TRACKING_FINALIZER]
    assert p["spec"]["hostname"] == "j-2"
    assert p["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"
    assert "finalizers" not in base["metadata"]  # input untouched


@pytest.mark.parametrize("rules,code,reason", [
    ([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}], 42, "PodFailurePolicy"),
    # No rule matches: the failure counts as usual (backoffLimit 0).
    ([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}], 1, "BackoffLimitExceeded"),
    ([{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}}], 1, None),
    ([{"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [0]}}], 3, "BackoffLimitExceeded"),
])
def test_pod_failure_policy(rules: list, code: int, reason: str | None) -> None:
    j = job(backoff=0, podFailurePolicy={"rules": rules}, podReplacementPolicy="Failed")
    plan = d.plan_sync(j, [pod("f", "Failed", code=code)], at(10))
    assert plan.finished_reason == reason
    if rules[0]["action"] == "Ignore":
        assert plan.status["uncountedTerminatedPods"] == {} and plan.create == 1
    if reason == "PodFailurePolicy":
        msg = d.podutil.get_condition(plan.status, "FailureTarget")["message"]
        assert msg == "Container c for pod default/f failed with exit code 42 matching FailJob rule at index 0"


@pytest.mark.parametrize("ttl,finished_at,now,expected", [
    (None, 0, 100, None), (0, 10, 10, 0), (60, 10, 30, 40), (60, 10, 100, -30),
])
def test_ttl_remaining(ttl: int | None, finished_at: float, now: float, expected: float | None) -> None:
    j = job(status={"completionTime": ts(finished_at),
                    "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": ts(finished_at)}]})
    if ttl is not None:
        j["spec"]["ttlSecondsAfterFinished"] = ttl
    assert d.ttl_remaining(j, at(now)) == expected
    assert d.ttl_remaining(job(ttlSecondsAfterFinished=0), at(now)) is None  # not finished
