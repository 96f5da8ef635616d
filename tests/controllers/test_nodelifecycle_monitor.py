"""The node lifecycle monitor pass without a server (a fake API that writes into the
informer cache, a fake clock): silent nodes turn Unknown, NoSchedule taints come at once,
NoExecute taints one node at a time per zone at the eviction rate, none at all in a small
partially disrupted zone or when every zone is down; Ready nodes lose their taints."""

from __future__ import annotations

from typing import Any

from apimachinery.client import InformerFactory
from apimachinery.client.informer import copy_object
from apimachinery.client.rest import ApiClient
from controllers.base import ControllerContext
from controllers.nodelifecycle import NodeLifecycleController
from controllers.nodelifecycle import decisions as D


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Events:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str, **_: Any) -> None:
        self.events.append((reason, message))


def node(name: str, zone: str = "") -> dict[str, Any]:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"metadata": {"name": name, "labels": labels, "resourceVersion": "1"}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "lastHeartbeatTime": "2024-05-01T12:00:00Z",
                                       "lastTransitionTime": "2024-05-01T12:00:00Z"}]}}


def make(names: list[str], zones: dict[str, str] | None = None) -> tuple[NodeLifecycleController, Clock]:
    client = ApiClient(server="https://127.0.0.1:9")
    clock = Clock()
    ctrl = NodeLifecycleController(ControllerContext(client, InformerFactory(client)), node_monitor_grace_period=40,
                                   clock=clock)
    store = ctrl.node_informer.store

    async def update_status(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
        new = copy_object(obj)
        store._put(new["metadata"]["name"], new)
        return new

    async def patch(res: Any, name: str, body: dict, **kw: Any) -> dict:
        new = copy_object(store.get(name))
        new["spec"]["taints"] = body["spec"]["taints"] or []
        store._put(name, new)
        return new
    client.update_status = update_status  # type: ignore[method-assign]
    ctrl.recorder = ctrl.taint_recorder = Events()  # type: ignore[assignment]
    client.patch = patch  # type: ignore[method-assign]
    for n in names:
        obj = node(n, (zones or {}).get(n, ""))
        store._put(n, obj)
        ctrl._node_added(obj)
    return ctrl, clock


def silence(ctrl: NodeLifecycleController, *names: str) -> None:
    for n in names:
        ctrl.probe[n] = ctrl.clock() - 41


def taints(ctrl: NodeLifecycleController, name: str) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in ctrl.node_informer.store.get(name)["spec"].get("taints") or []}


UNREACH_NS = (D.UNREACHABLE, "NoSchedule")
UNREACH_NE = (D.UNREACHABLE, "NoExecute")


async def test_silent_nodes_tainted_one_at_a_time() -> None:
    ctrl, clock = make([f"n{i}" for i in range(6)])
    silence(ctrl, "n0", "n1")
    await ctrl.monitor_once()
    for n in ("n0", "n1"):
        ready = next(c for c in ctrl.node_informer.store.get(n)["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
        assert UNREACH_NS in taints(ctrl, n)
    assert ctrl.zone_states == {"": D.NORMAL}
    assert ("NodeNotReady", "Node n0 status is now: NodeNotReady") in ctrl.recorder.events  # type: ignore[attr-defined]
    assert [UNREACH_NE in taints(ctrl, n) for n in ("n0", "n1")] == [True, False]  # 0.1 node/s, burst 1
    clock.t += 5
    await ctrl.monitor_once()
    assert UNREACH_NE not in taints(ctrl, "n1")
    clock.t += 5.1
    await ctrl.monitor_once()
    assert UNREACH_NE in taints(ctrl, "n1")
    assert not taints(ctrl, "n2")


async def test_small_partially_disrupted_zone_is_not_evicted() -> None:
    ctrl, clock = make(["a", "b", "c", "d"])
    silence(ctrl, "a", "b", "c")
    await ctrl.monitor_once()
    assert ctrl.zone_states == {"": D.PARTIAL}
    for n in ("a", "b", "c"):
        assert taints(ctrl, n) == {UNREACH_NS}
    clock.t += 100
    await ctrl.monitor_once()
    assert all(UNREACH_NE not in taints(ctrl, n) for n in ("a", "b", "c"))


async def test_everything_down_means_no_eviction_and_taints_lifted() -> None:
    ctrl, clock = make(["a", "b", "c"])
    silence(ctrl, "a")
    await ctrl.monitor_once()
    assert UNREACH_NE in taints(ctrl, "a")
    silence(ctrl, "b", "c")
    clock.t += 1
    await ctrl.monitor_once()
    assert ctrl.disrupted_mode is True
    for n in ("a", "b", "c"):
        assert taints(ctrl, n) == {UNREACH_NS}  # the NoExecute taint of "a" was lifted too
    # The nodes come back: Ready again, taints removed, fresh grace period for everyone.
    for n in ("a", "b", "c"):
        obj = copy_object(ctrl.node_informer.store.get(n))
        obj["status"]["conditions"] = node(n)["status"]["conditions"]
        obj["status"]["conditions"][0]["lastHeartbeatTime"] = "2024-05-01T13:00:00Z"
        old = ctrl.node_informer.store.get(n)
        ctrl.node_informer.store._put(n, obj)
        ctrl._node_updated(old, obj)
    clock.t += 1
    await ctrl.monitor_once()
    assert ctrl.disrupted_mode is False
    assert all(not taints(ctrl, n) for n in ("a", "b", "c"))


async def test_one_zone_down_is_evicted_when_others_are_up() -> None:
    zones = {"a1": "a", "a2": "a", "b1": "b"}
    ctrl, clock = make(list(zones), zones)
    silence(ctrl, "a1", "a2")
    await ctrl.monitor_once()
    assert ctrl.zone_states == {":a": D.FULL, ":b": D.NORMAL}
    assert ctrl.disrupted_mode is False
    assert [UNREACH_NE in taints(ctrl, n) for n in ("a1", "a2")] == [True, False]
    clock.t += 10.1
    await ctrl.monitor_once()
    assert UNREACH_NE in taints(ctrl, "a2")
