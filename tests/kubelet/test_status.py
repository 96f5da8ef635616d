"""Pod status computed from container states: phases, container status entries, conditions,
and the crash-loop back-off arithmetic (pure functions, tables of cases)."""

from __future__ import annotations

import pytest

from kubelet import status
from kubelet.status import BackoffEntry, ContainerView, api_container_status, next_backoff, pod_phase


@pytest.mark.parametrize(("exits", "expected"), [
    (1, [0.0]),                                   # first restart is immediate
    (2, [0.0, 10.0]),
    (6, [0.0, 10.0, 20.0, 40.0, 80.0, 160.0]),
    (8, [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]),   # capped at 5 minutes
])
def test_backoff_doubles_to_five_minutes(exits: int, expected: list[float]) -> None:
    entry = None
    delays = []
    for i in range(exits):
        entry = next_backoff(entry, finished_at=100.0 * i, ran_for=1.0, base=10.0)
        delays.append(entry.delay)
    assert delays == expected


def test_backoff_resets_after_ten_minutes_running() -> None:
    entry = BackoffEntry(160.0, 0.0)
    assert next_backoff(entry, 1000.0, ran_for=600.0, base=10.0).delay == 0.0
    assert next_backoff(entry, 1000.0, ran_for=599.0, base=10.0).delay == 300.0


@pytest.mark.parametrize(("entry", "now", "left"), [
    (None, 5.0, 0.0),
    (BackoffEntry(10.0, 100.0), 104.0, 6.0),
    (BackoffEntry(10.0, 100.0), 111.0, 0.0),
    (BackoffEntry(0.0, 100.0), 100.0, 0.0),
])
def test_backoff_remaining(entry: BackoffEntry | None, now: float, left: float) -> None:
    assert status.backoff_remaining(entry, now) == left


def test_crashloop_message_is_kubernetes_wording() -> None:
    pod = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}}
    assert status.crashloop_message(10, "c", pod) == "back-off 10s restarting failed container=c pod=web_default(u1)"
    assert status.crashloop_message(300, "c", pod).startswith("back-off 5m0s ")
    assert status.crashloop_message(80, "c", pod).startswith("back-off 1m20s ")


def _running() -> dict:
    return {"name": "c", "state": {"running": {"startedAt": "t"}}, "lastState": {}}


def _term(code: int) -> dict:
    return {"name": "c", "state": {"terminated": {"exitCode": code}}, "lastState": {}}


def _waiting(restarting: bool) -> dict:
    return {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff" if restarting else "ContainerCreating"}},
            "lastState": {"terminated": {"exitCode": 1}} if restarting else {}}


@pytest.mark.parametrize(("policy", "statuses", "init_done", "phase"), [
    ("Always", [_waiting(False)], True, "Pending"),
    ("Always", [_running()], True, "Running"),
    ("Always", [_waiting(True)], True, "Running"),           # crash loop: still Running
    ("Always", [_term(0)], True, "Running"),                 # about to restart
    ("Never", [_term(0)], True, "Succeeded"),
    ("Never", [_term(2)], True, "Failed"),
    ("Never", [_term(0), _term(1)], True, "Failed"),
    ("Never", [_term(0), _running()], True, "Running"),
    ("OnFailure", [_term(0)], True, "Succeeded"),
    ("OnFailure", [_term(1)], True, "Running"),              # will restart
    ("Always", [_running()], False, "Pending"),              # init containers not done
])
def test_pod_phase(policy: str, statuses: list[dict], init_done: bool, phase: str) -> None:
    assert pod_phase(policy, [], statuses, init_done) == phase


def test_pod_phase_failed_init_container_under_never() -> None:
    init = [{"name": "i", "state": {"terminated": {"exitCode": 1}}}]
    assert pod_phase("Never", init, [_waiting(False)], False) == "Failed"
    assert pod_phase("Always", init, [_waiting(False)], False) == "Pending"


RUN = {"id": "abc", "state": "running", "started_at": "2026-01-01T00:00:00.123456789Z", "attempt": 2,
       "image_id": "sha256:1"}
EXIT = {"id": "abc", "state": "exited", "exit_code": 137, "reason": "OOMKilled",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:05Z", "attempt": 1,
        "image_id": "sha256:1"}


@pytest.mark.parametrize(("view", "state", "last", "restarts"), [
    (ContainerView("c", "busybox"), {"waiting": {"reason": "ContainerCreating"}}, {}, 0),
    (ContainerView("c", "busybox", latest=RUN), {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, {}, 2),
    (ContainerView("c", "busybox", latest=EXIT),
     {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-01-01T00:00:00Z",
                     "finishedAt": "2026-01-01T00:00:05Z", "containerID": "mizzen://abc"}}, {}, 1),
    (ContainerView("c", "busybox", latest=EXIT, waiting=("CrashLoopBackOff", "back-off 10s ...")),
     {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s ..."}}, "terminated", 1),
    (ContainerView("c", "busybox", latest=RUN, previous=EXIT), {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
     "terminated", 2),
    (ContainerView("c", "nope", waiting=("ErrImageNeverPull", "m")),
     {"waiting": {"reason": "ErrImageNeverPull", "message": "m"}}, {}, 0),
])
def test_api_container_status(view: ContainerView, state: dict, last: dict | str, restarts: int) -> None:
    out = api_container_status(view)
    assert out["state"] == state
    assert out["restartCount"] == restarts
    if last == "terminated":
        assert out["lastState"]["terminated"]["reason"] == "OOMKilled"
    else:
        assert out["lastState"] == last
    assert ("containerID" in out) == (view.latest is not None)


@pytest.mark.parametrize(("exit_code", "reason", "shown"), [
    (0, "", "Completed"), (1, "", "Error"), (137, "OOMKilled", "OOMKilled"), (128, "StartError", "ContainerCannotRun"),
])
def test_terminated_reason(exit_code: int, reason: str, shown: str) -> None:
    assert status.terminated({"exit_code": exit_code, "reason": reason, "id": "x"})["reason"] == shown


def test_conditions_follow_readiness_and_keep_transition_times() -> None:
    ready = [{"name": "a", "ready": True, "state": {"running": {}}}]
    unready = [{"name": "a", "ready": True, "state": {"running": {}}}, {"name": "b", "ready": False,
                                                                       "state": {"running": {}}}]
    c1 = status.pod_conditions([], phase="Running", sandbox_ready=True, init_statuses=[], statuses=unready,
                               init_done=True, now=1000.0)
    by = {c["type"]: c for c in c1}
    assert by["Ready"]["status"] == "False"
    assert by["Ready"]["reason"] == "ContainersNotReady"
    assert by["Ready"]["message"] == "containers with unready status: [b]"
    assert by["Initialized"]["status"] == "True"
    assert by["PodReadyToStartContainers"]["status"] == "True"
    c2 = status.pod_conditions(c1, phase="Running", sandbox_ready=True, init_statuses=[], statuses=ready,
                               init_done=True, now=2000.0)
    by2 = {c["type"]: c for c in c2}
    assert by2["Ready"]["status"] == "True"
    assert by2["Ready"]["lastTransitionTime"] == status.rfc3339(2000.0)
    assert by2["Initialized"]["lastTransitionTime"] == status.rfc3339(1000.0)


def test_completed_pod_conditions() -> None:
    done = [{"name": "a", "ready": False, "state": {"terminated": {"exitCode": 0}}}]
    by = {c["type"]: c for c in status.pod_conditions([], phase="Succeeded", sandbox_ready=True, init_statuses=[],
                                                      statuses=done, init_done=True, now=1.0)}
    assert by["Ready"]["reason"] == "PodCompleted"
    assert by["PodReadyToStartContainers"]["status"] == "False"
