"""The EndpointSlice controller's plan: which slices to create, update and delete for a
Service's pods, changing as few as it can."""

from __future__ import annotations

from typing import Any

import pytest
from ctrl_helpers import T0
from test_endpoints_decisions import svc, web_pod

from controllers.endpoints import decisions as ed
from controllers.endpointslice import decisions as sd
from controllers.endpointslice.controller import SliceTracker, index_by_service

OWNER = {"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": True,
         "blockOwnerDeletion": True}
PORTS = [{"name": "", "port": 8080, "protocol": "TCP"}]


def pods(n: int, start: int = 0, **kw: Any) -> list[dict[str, Any]]:
    return [web_pod(f"p{i}", f"10.244.{i // 200}.{i % 200 + 1}", **kw) for i in range(start, start + n)]


def stored(p: sd.Plan, prefix: str = "s") -> list[dict[str, Any]]:
    """The plan's created and updated slices as the API would return them."""
    out = []
    for i, s in enumerate(p.create + p.update):
        s = {**s, "metadata": {**s["metadata"]}}
        s["metadata"].setdefault("name", f"{prefix}{i}")
        s["metadata"].pop("generateName", None)
        s["metadata"]["uid"] = s["metadata"]["name"]
        out.append(s)
    return out


def ips(slice_: dict[str, Any]) -> list[str]:
    return [e["addresses"][0] for e in slice_["endpoints"]]


def test_new_slice_shape() -> None:
    p = sd.plan(svc(labels={"team": "a"}), pods(1), [], trigger_time=T0)
    (s,) = p.create
    assert not p.update and not p.delete
    assert s == {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "namespace": "default",
                     "labels": {"team": "a", "kubernetes.io/service-name": "web",
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                     "ownerReferences": [OWNER],
                     "annotations": {ed.TRIGGER_TIME_ANNOTATION: "2024-05-01T12:00:00Z"}},
        "addressType": "IPv4", "ports": PORTS,
        "endpoints": [{"addresses": ["10.244.0.1"], "conditions": {"ready": True, "serving": True, "terminating": False},
                       "nodeName": "n1", "targetRef": {"kind": "Pod", "namespace": "default", "name": "p0",
                                                       "uid": "uid-p0"}}]}


@pytest.mark.parametrize(("kw", "service_kw", "want"), [
    ({}, {}, {"ready": True, "serving": True, "terminating": False}),
    ({"ready": False}, {}, {"ready": False, "serving": False, "terminating": False}),
    ({"deleting": True}, {}, {"ready": False, "serving": True, "terminating": True}),
    ({"deleting": True, "ready": False}, {"publish_not_ready": True}, {"ready": True, "serving": False,
                                                                       "terminating": True}),
])
def test_conditions(kw: dict, service_kw: dict, want: dict) -> None:
    (s,) = sd.plan(svc(**service_kw), pods(1, **kw), []).create
    assert s["endpoints"][0]["conditions"] == want


def test_at_most_100_per_slice() -> None:
    p = sd.plan(svc(), pods(250), [])
    assert [len(s["endpoints"]) for s in p.create] == [100, 100, 50]


def test_churn_touches_one_slice() -> None:
    first = stored(sd.plan(svc(), pods(250), []))
    # p0..p9 (all in the first slice) go away; p250..p254 appear.
    now = pods(240, start=10) + pods(5, start=250)
    p = sd.plan(svc(), now, first)
    assert not p.create and not p.delete
    (u,) = p.update
    assert u["metadata"]["name"] == "s0" and len(u["endpoints"]) == 95
    assert sd.plan(svc(), now, stored(p, "x") + first[1:]).empty()


def test_unchanged_is_empty_plan_and_changes_update() -> None:
    first = stored(sd.plan(svc(), pods(3), []))
    assert sd.plan(svc(), pods(3), first).empty()
    p = sd.plan(svc(), pods(2) + pods(1, start=2, ready=False), first)
    (u,) = p.update
    assert [e["conditions"]["ready"] for e in u["endpoints"]] == [True, True, False]
    assert sd.plan(svc(labels={"new": "label"}), pods(3), first).update


def test_scale_to_zero_keeps_a_placeholder() -> None:
    first = stored(sd.plan(svc(), pods(3), []))
    p = sd.plan(svc(), [], first)
    assert [s["metadata"]["name"] for s in p.delete] == ["s0"]
    (placeholder,) = p.create
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []
    assert sd.plan(svc(), [], stored(p, "ph")).empty()
    # pods come back: the placeholder goes, a real slice comes
    back = sd.plan(svc(), pods(1), stored(p, "ph"))
    assert len(back.create) == 1 and [s["metadata"]["name"] for s in back.delete] == ["ph0"]


def test_port_change_replaces_slices_and_named_ports_split() -> None:
    first = stored(sd.plan(svc(), pods(2), []))
    service = svc([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}])
    a = pods(1, ports=[{"name": "http", "containerPort": 8080}])
    b = pods(1, start=1, ports=[{"name": "http", "containerPort": 9090}])
    p = sd.plan(service, a + b, first)
    assert sorted(s["ports"][0]["port"] for s in p.create) == [8080, 9090]
    assert [s["metadata"]["name"] for s in p.delete] == ["s0"]


def test_foreign_slices_deleted_and_pods_without_ip_skipped() -> None:
    foreign = {"metadata": {"name": "old", "ownerReferences": [{**OWNER, "uid": "previous-service"}]},
               "addressType": "IPv4", "ports": PORTS, "endpoints": []}
    p = sd.plan(svc(), [web_pod("x", None)] + pods(1), [foreign])
    assert [s["metadata"]["name"] for s in p.delete] == ["old"]
    assert [ips(s) for s in p.create] == [["10.244.0.1"]]


def test_headless_label() -> None:
    (s,) = sd.plan(svc(cluster_ip="None"), pods(1), []).create
    assert s["metadata"]["labels"][ed.HEADLESS_LABEL] == ""


def test_slice_index_and_tracker() -> None:
    s = {"metadata": {"name": "web-abcde", "namespace": "default", "resourceVersion": "5",
                      "labels": {sd.SERVICE_NAME_LABEL: "web", sd.MANAGED_BY_LABEL: sd.CONTROLLER_NAME}}}
    assert index_by_service(s) == ["default/web"]
    assert index_by_service({"metadata": {"labels": {sd.SERVICE_NAME_LABEL: "web"}}}) == []
    t = SliceTracker()
    t.written("default/web", "web-abcde", "7")
    assert t.stale("default/web", [s])  # cache still at 5
    assert not t.stale("default/web", [{**s, "metadata": {**s["metadata"], "resourceVersion": "7"}}])
    t.written("default/web", "web-abcde", None)
    assert t.stale("default/web", [s])  # deleted, still cached
    assert not t.stale("default/web", [])


def test_trigger_time_set_on_writes_and_dropped_when_none() -> None:
    first = stored(sd.plan(svc(), pods(2), [], trigger_time=T0))
    assert first[0]["metadata"]["annotations"] == {ed.TRIGGER_TIME_ANNOTATION: "2024-05-01T12:00:00Z"}
    (u,) = sd.plan(svc(), pods(1), first).update
    assert "annotations" not in u["metadata"]


def test_tracker_stops_waiting_for_a_slice_deleted_before_it_was_seen() -> None:
    t = SliceTracker()
    t.written("default/web", "web-abcde", "9")
    assert t.stale("default/web", [])
    t.deleted("default/web", "web-abcde")
    assert not t.stale("default/web", [])
    impatient = SliceTracker(patience=-1.0)
    impatient.written("default/web", "web-abcde", "9")
    assert not impatient.stale("default/web", [])
