from datetime import timedelta

import pytest
from ctrl_helpers import T0, pod

from controllers.replicaset import decisions as d


@pytest.mark.parametrize("desired,active,expected", [
    (3, 0, 3), (3, 3, 0), (3, 5, -2), (0, 4, -4), (1000, 0, 500), (0, 900, -500), (10, 600, -500),
])
def test_replicas_diff(desired, active, expected):
    assert d.replicas_diff(desired, active) == expected


@pytest.mark.parametrize("count,batches", [
    (0, []), (1, [1]), (2, [1, 1]), (3, [1, 2]), (10, [1, 2, 4, 3]), (15, [1, 2, 4, 8]), (16, [1, 2, 4, 8, 1]),
    (500, [1, 2, 4, 8, 16, 32, 64, 128, 245]),
])
def test_slow_start_batches(count, batches):
    assert d.slow_start_batches(count) == batches
    assert sum(batches) == count


NOW = T0 + timedelta(hours=10)


def _names(pods):
    return [p["metadata"]["name"] for p in pods]


# Each case: pods in any order; expected deletion order (Kubernetes' TestSortingActivePods idea).
RANK_CASES = [
    ("unassigned before assigned",
     [pod("a", node="n1"), pod("b", node="", phase="Pending")], ["b", "a"]),
    ("Pending < Unknown < Running",
     [pod("run"), pod("unk", phase="Unknown", ready=False), pod("pend", phase="Pending")], ["pend", "unk", "run"]),
    ("not ready before ready",
     [pod("ready"), pod("notready", ready=False)], ["notready", "ready"]),
    ("lower deletion cost first",
     [pod("cheap", annotations={"controller.kubernetes.io/pod-deletion-cost": "-10"}),
      pod("dear", annotations={"controller.kubernetes.io/pod-deletion-cost": "100"}), pod("zero")],
     ["cheap", "zero", "dear"]),
    ("ready for less time first (log scale)",
     [pod("old", ready_at=0), pod("young", ready_at=9 * 3600)], ["young", "old"]),
    ("more restarts first",
     [pod("calm", restarts=0), pod("crashy", restarts=5)], ["crashy", "calm"]),
    ("newer first",
     [pod("older", created=0), pod("newer", created=9 * 3600)], ["newer", "older"]),
]


@pytest.mark.parametrize("case,pods,order", RANK_CASES, ids=[c[0] for c in RANK_CASES])
def test_pods_to_delete_order(case, pods, order):
    assert _names(d.pods_to_delete(pods, pods, len(pods) - 1, NOW)) == order[:-1]
    assert _names(d.pods_to_delete(list(reversed(pods)), pods, 1, NOW)) == order[:1]


def test_doubled_up_pods_go_first():
    mine = [pod("a", node="n1"), pod("b", node="n2")]
    other_rs = [pod("x", node="n2"), pod("y", node="n2")]
    assert _names(d.pods_to_delete(mine, mine + other_rs, 1, NOW)) == ["b"]


def test_pods_to_delete_all_when_diff_covers_everything():
    pods = [pod("a"), pod("b")]
    assert _names(d.pods_to_delete(pods, pods, 5, NOW)) == ["a", "b"]


@pytest.mark.parametrize("owner_ref,matches,owner_deleting,pod_deleting,expected", [
    ("uid-rs", True, False, False, "own"),
    ("uid-rs", False, False, False, "release"),
    ("uid-rs", False, True, False, "ignore"),
    ("uid-other", True, False, False, "ignore"),
    (None, True, False, False, "adopt"),
    (None, False, False, False, "ignore"),
    (None, True, True, False, "ignore"),
    (None, True, False, True, "ignore"),
])
def test_claim_decision(owner_ref, matches, owner_deleting, pod_deleting, expected):
    p = pod("p", deleting=pod_deleting)
    if owner_ref:
        p["metadata"]["ownerReferences"] = [{"uid": owner_ref, "controller": True, "kind": "ReplicaSet",
                                             "name": "x", "apiVersion": "apps/v1"}]
    assert d.claim_decision(p, "uid-rs", matches, owner_deleting) == expected


def _rs(min_ready=0, generation=3, status=None):
    return {"metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 3, "minReadySeconds": min_ready,
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}},
            "status": status or {}}


def test_status_counts():
    pods = [pod("a", labels={"app": "web", "tier": "fe"}, ready_at=0),
            pod("b", labels={"app": "web"}, ready_at=9.5 * 3600),
            pod("c", ready=False, phase="Pending")]
    s = d.calculate_status(_rs(min_ready=3600), pods, None, 0, NOW)
    assert (s["replicas"], s["fullyLabeledReplicas"], s["readyReplicas"], s["availableReplicas"],
            s["observedGeneration"]) == (3, 1, 2, 1, 3)
    assert "conditions" not in s


def test_status_replica_failure_added_then_removed():
    s = d.calculate_status(_rs(), [], 'pods "web-x" is forbidden: exceeded quota', 0, NOW)
    assert s["conditions"][0]["type"] == "ReplicaFailure"
    assert s["conditions"][0]["reason"] == "FailedDelete"
    s = d.calculate_status(_rs(), [], "boom", -2, NOW)
    assert s["conditions"][0]["reason"] == "FailedCreate"
    cleared = d.calculate_status(_rs(status=s), [], None, 0, NOW)
    assert "conditions" not in cleared


def test_requeue_for_availability():
    pods = [pod("a", ready_at=10 * 3600 - 5)]
    assert d.requeue_for_availability(_rs(min_ready=30), pods, NOW) == pytest.approx(25)
    assert d.requeue_for_availability(_rs(min_ready=0), pods, NOW) is None
