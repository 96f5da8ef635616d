"""Table tests of PodDisruptionBudget arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.disruption import decisions as D

NOW = D.parse_time("2024-05-01T12:00:00Z")


def pod(name: str, ready: bool = True, *, owner: str | None = "rs", deleting: bool = False) -> dict[str, Any]:
    p: dict[str, Any] = {"metadata": {"name": name},
                         "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    if owner:
        p["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner, "controller": True}]
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2024-05-01T11:59:00Z"
    return p


def scale(replicas: dict[str, int]) -> Any:
    def f(p: dict) -> tuple[str, int] | None:
        refs = p["metadata"].get("ownerReferences") or []
        return (refs[0]["uid"], replicas[refs[0]["uid"]]) if refs else None
    return f


CASES = [
    # id, spec, pods, replicas, (expected, desired, healthy, allowed)
    ("min-int", {"minAvailable": 2}, [pod("a"), pod("b"), pod("c")], {"rs": 3}, (3, 2, 3, 1)),
    ("min-int-unready", {"minAvailable": 2}, [pod("a"), pod("b", False), pod("c")], {"rs": 3}, (3, 2, 2, 0)),
    ("min-int-no-controller", {"minAvailable": 1}, [pod("a", owner=None), pod("b", owner=None)], {}, (2, 1, 2, 1)),
    ("min-pct", {"minAvailable": "50%"}, [pod("a"), pod("b"), pod("c")], {"rs": 3}, (3, 2, 3, 1)),
    ("min-pct-scale-not-pods", {"minAvailable": "50%"}, [pod("a"), pod("b")], {"rs": 5}, (5, 3, 2, 0)),
    ("max-int", {"maxUnavailable": 1}, [pod("a"), pod("b"), pod("c")], {"rs": 3}, (3, 2, 3, 1)),
    ("max-pct-rounds-up", {"maxUnavailable": "25%"}, [pod(str(i)) for i in range(10)], {"rs": 10}, (10, 7, 10, 3)),
    ("max-zero", {"maxUnavailable": 0}, [pod("a")], {"rs": 1}, (1, 1, 1, 0)),
    ("max-more-than-scale", {"maxUnavailable": 5}, [pod("a")], {"rs": 1}, (1, 0, 1, 1)),
    ("two-controllers", {"maxUnavailable": 1}, [pod("a"), pod("b", owner="other")], {"rs": 2, "other": 1},
     (3, 2, 2, 0)),
    ("deleting-not-healthy", {"minAvailable": 1}, [pod("a"), pod("b", deleting=True)], {"rs": 2}, (2, 1, 1, 0)),
    ("no-pods", {"minAvailable": 1}, [], {}, (0, 1, 0, 0)),
]


@pytest.mark.parametrize(("spec", "pods", "replicas", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compute(spec: dict, pods: list, replicas: dict, want: tuple) -> None:
    c = D.compute(spec, {}, pods, scale(replicas), NOW)
    assert (c.expected, c.desired, c.healthy, c.allowed) == want


def test_percentage_needs_controllers() -> None:
    with pytest.raises(D.NoControllers, match='found no controllers for pod "a"'):
        D.compute({"maxUnavailable": 1}, {}, [pod("a", owner=None)], scale({}), NOW)


def test_disrupted_pods_not_healthy_until_gone_or_expired() -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    status = {"disruptedPods": {"a": "2024-05-01T11:59:30Z", "gone": "2024-05-01T11:59:30Z",
                                "old": "2024-05-01T11:57:00Z"}}
    pods.append(pod("old"))
    c = D.compute({"maxUnavailable": 1}, status, pods, scale({"rs": 4}), NOW)
    assert c.disrupted == {"a": "2024-05-01T11:59:30Z"}  # "gone" no longer exists, "old" expired
    assert (c.healthy, c.allowed) == (3, 0)
    assert c.recheck_at == D.parse_time("2024-05-01T11:59:30Z") + 120


def test_status_and_conditions() -> None:
    ok = D.new_status({}, D.compute({"minAvailable": 1}, {}, [pod("a"), pod("b")], scale({"rs": 2}), NOW), 3,
                      "2024-05-01T12:00:00Z")
    assert ok["disruptionsAllowed"] == 1 and ok["observedGeneration"] == 3 and ok["expectedPods"] == 2
    assert ok["conditions"] == [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                 "message": "", "observedGeneration": 3,
                                 "lastTransitionTime": "2024-05-01T12:00:00Z"}]
    later = D.new_status(ok, D.compute({"minAvailable": 2}, {}, [pod("a"), pod("b")], scale({"rs": 2}), NOW), 4,
                         "2024-05-01T12:01:00Z")
    cond = later["conditions"][0]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"]) == ("False", "InsufficientPods",
                                                                            "2024-05-01T12:01:00Z")
    fs = D.failsafe_status(ok, "boom", 5, "t")
    assert fs["disruptionsAllowed"] == 0 and fs["conditions"][0]["reason"] == "SyncFailed"
