"""Table tests of the node lifecycle policy: staleness, Unknown conditions, taints, zone
states, eviction rates, the token bucket and when pods go."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.nodelifecycle import decisions as D

AT = "2024-05-01T12:00:00Z"


def node(ready: str | None = "True", *, zone: str | None = None, taints: list | None = None,
         conditions: list | None = None) -> dict[str, Any]:
    conds = list(conditions or [])
    if ready is not None:
        conds.append({"type": "Ready", "status": ready, "reason": "KubeletReady",
                      "lastHeartbeatTime": "2024-05-01T11:00:00Z", "lastTransitionTime": "2024-05-01T10:00:00Z"})
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"metadata": {"name": "n", "labels": labels}, "spec": {"taints": taints or []},
            "status": {"conditions": conds}}


@pytest.mark.parametrize(("probe", "now", "grace", "stale"), [
    (100.0, 139.0, 40.0, False), (100.0, 140.0, 40.0, False), (100.0, 140.1, 40.0, True), (0.0, 3.5, 3.0, True),
])
def test_is_stale(probe: float, now: float, grace: float, stale: bool) -> None:
    assert D.is_stale(probe, now, grace) is stale


def test_unknown_conditions() -> None:
    n = node("True", conditions=[{"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                                  "lastHeartbeatTime": "h", "lastTransitionTime": "t"}])
    conds = {c["type"]: c for c in D.unknown_conditions(n, AT)}
    ready = conds["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == ("Unknown", "NodeStatusUnknown",
                                                                    "Kubelet stopped posting node status.")
    assert ready["lastTransitionTime"] == AT and ready["lastHeartbeatTime"] == "2024-05-01T11:00:00Z"
    assert conds["MemoryPressure"]["status"] == "Unknown"
    assert conds["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert conds["DiskPressure"]["message"] == "Kubelet never posted node status."
    assert D.unknown_conditions({"status": {"conditions": list(conds.values())}}, AT) is None


@pytest.mark.parametrize(("ready", "extra", "noschedule", "noexecute"), [
    ("True", [], set(), None),
    ("False", [], {D.NOT_READY}, D.NOT_READY),
    ("Unknown", [], {D.UNREACHABLE}, D.UNREACHABLE),
    (None, [], set(), D.UNREACHABLE),
    ("True", [{"type": "MemoryPressure", "status": "True"}], {"node.kubernetes.io/memory-pressure"}, None),
    ("True", [{"type": "DiskPressure", "status": "True"}, {"type": "PIDPressure", "status": "False"}],
     {"node.kubernetes.io/disk-pressure"}, None),
])
def test_taint_keys(ready: str | None, extra: list, noschedule: set, noexecute: str | None) -> None:
    n = node(ready, conditions=extra)
    assert D.noschedule_taint_keys(n) == noschedule
    assert D.noexecute_taint_key(n) == noexecute


def test_taints_with_adds_swaps_removes_and_keeps_others() -> None:
    user = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    n = node("Unknown", taints=[user])
    got = D.taints_with(n, {D.UNREACHABLE}, D.UNREACHABLE, AT)
    assert got == [user, {"key": D.UNREACHABLE, "effect": "NoSchedule"},
                   {"key": D.UNREACHABLE, "effect": "NoExecute", "timeAdded": AT}]
    n2 = node("False", taints=got)
    swapped = D.taints_with(n2, {D.NOT_READY}, D.NOT_READY, AT)
    assert swapped == [user, {"key": D.NOT_READY, "effect": "NoSchedule"},
                       {"key": D.NOT_READY, "effect": "NoExecute", "timeAdded": AT}]
    # NoExecute left alone (False) while waiting for the rate limiter: only NoSchedule changes.
    assert D.taints_with(node("False", taints=[user]), {D.NOT_READY}, False, AT) == [
        user, {"key": D.NOT_READY, "effect": "NoSchedule"}]
    back = D.taints_with(node("True", taints=swapped), set(), None, AT)
    assert back == [user]
    assert D.taints_with(node("True", taints=[user]), set(), None, AT) is None


T, F, U = "True", "False", "Unknown"


@pytest.mark.parametrize(("ready", "want"), [
    ([T, T, T], (0, D.NORMAL)),
    ([T, T, U], (1, D.NORMAL)),
    ([T, U, U], (2, D.NORMAL)),  # 2 not ready is never a partial disruption
    ([U, U, U], (3, D.FULL)),
    ([F, None], (2, D.FULL)),
    ([T, U, U, U], (3, D.PARTIAL)),
    ([T, T, U, U, U], (3, D.PARTIAL)),  # 60% >= 55%
    ([T, T, T, U, U, U], (3, D.NORMAL)),  # 50%
    ([], (0, D.NORMAL)),
])
def test_zone_state(ready: list, want: tuple[int, str]) -> None:
    assert D.compute_zone_state(ready) == want


@pytest.mark.parametrize(("states", "all_down"), [
    ({"": D.FULL}, True),
    ({"a": D.FULL, "b": D.FULL}, True),
    ({"a": D.FULL, "b": D.NORMAL}, False),
    ({"a": D.PARTIAL}, False),
    ({}, False),
])
def test_all_zones_disrupted(states: dict, all_down: bool) -> None:
    assert D.all_zones_disrupted(states) is all_down


@pytest.mark.parametrize(("state", "size", "want"), [
    (D.NORMAL, 3, 0.1), (D.FULL, 3, 0.1), (D.PARTIAL, 10, 0.0), (D.PARTIAL, 50, 0.0), (D.PARTIAL, 51, 0.01),
])
def test_zone_eviction_rate(state: str, size: int, want: float) -> None:
    assert D.zone_eviction_rate(state, size) == want


def test_token_bucket() -> None:
    b = D.TokenBucket(0.1)
    assert b.try_take(0.0) is True  # burst of one
    assert b.try_take(5.0) is False
    assert b.try_take(10.0) is True
    assert b.try_take(10.0) is False
    b.set_rate(0.0, 30.0)
    assert b.try_take(100.0) is False  # rate 0: never
    b.set_rate(1.0, 100.0)
    assert b.try_take(101.0) is True


def test_zone_key() -> None:
    assert D.zone_key(node()) == ""
    assert D.zone_key(node(zone="a")) == ":a"


UNREACH = {"key": D.UNREACHABLE, "effect": "NoExecute", "timeAdded": AT}
NOTREADY = {"key": D.NOT_READY, "effect": "NoExecute", "timeAdded": AT}
DEFAULT_TOLS = [{"key": D.NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": D.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]


@pytest.mark.parametrize(("tolerations", "taints", "want"), [
    ([], [UNREACH], 0.0),
    (DEFAULT_TOLS, [UNREACH], 300.0),
    (DEFAULT_TOLS, [UNREACH, NOTREADY], 300.0),
    ([{"key": D.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}], [UNREACH], 5.0),
    ([{"key": D.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}],
     [UNREACH, NOTREADY], 0.0),  # the not-ready taint is not tolerated
    ([{"operator": "Exists"}], [UNREACH, NOTREADY], None),  # tolerates everything forever
    ([{"key": D.UNREACHABLE, "operator": "Exists", "tolerationSeconds": -3}], [UNREACH], 0.0),
    (DEFAULT_TOLS, [{"key": "x", "effect": "NoSchedule"}], None),  # no NoExecute taint
    ([{"key": "custom", "value": "v", "effect": "NoExecute"}], [{"key": "custom", "value": "v", "effect": "NoExecute"}],
     None),
])
def test_eviction_delay(tolerations: list, taints: list, want: float | None) -> None:
    assert D.eviction_delay(tolerations, taints) == want


def test_taints_since() -> None:
    t = D.parse_time(AT)
    assert D.taints_since([UNREACH, {"key": "x", "effect": "NoExecute"}], 5.0) == t
    assert D.taints_since([{"key": "x", "effect": "NoExecute"}], 5.0) == 5.0


def test_pods_not_ready_status() -> None:
    pod = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"},
                                                         {"type": "PodScheduled", "status": "True"}]}}
    st = D.pods_not_ready_status(pod, AT)
    assert st["conditions"][0] == {"type": "Ready", "status": "False", "lastTransitionTime": AT}
    assert pod["status"]["conditions"][0]["status"] == "True"  # the input is not mutated
    assert D.pods_not_ready_status({"status": st}, AT) is None
