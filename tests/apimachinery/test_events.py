# ruff: noqa: F811  (fixtures imported from client_cluster are redefined as parameters)
"""Events look like Kubernetes' and repeats aggregate into one Event with a growing count
(pure correlation first, then the recorder against the real mizzen API server)."""

from __future__ import annotations

import re

import pytest
from client_cluster import api, cluster, namespace  # noqa: F401

from apimachinery.client.events import EventCorrelator, EventRecorder, event_name, make_event, rfc3339
from apimachinery.client.rest import ApiClient

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "resourceVersion": "42"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "uid": "n-1"}}
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_event_fields_match_kubernetes() -> None:
    ev = make_event(POD, "Warning", "BackOff", "Back-off restarting failed container", component="kubelet",
                    host="node-1", now=T0 + 0.5)
    assert ev["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "namespace": "prod",
                                    "uid": "u-1", "resourceVersion": "42"}
    assert ev["metadata"]["namespace"] == "prod"
    assert re.fullmatch(r"web-1\.[0-9a-f]+", ev["metadata"]["name"])
    assert ev["metadata"]["name"] == event_name("web-1", int((T0 + 0.5) * 1e9))
    assert (ev["firstTimestamp"], ev["lastTimestamp"], ev["count"], ev["type"]) == (
        "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", 1, "Warning")
    assert ev["source"] == {"component": "kubelet", "host": "node-1"}
    assert (ev["reportingComponent"], ev["reportingInstance"]) == ("kubelet", "node-1")


def test_events_about_cluster_scoped_objects_go_to_default() -> None:
    ev = make_event(NODE, "Normal", "NodeReady", "Node node-1 status is now: NodeReady", component="node-controller",
                    host=None, now=T0)
    assert ev["metadata"]["namespace"] == "default"
    assert "namespace" not in ev["involvedObject"]
    assert ev["source"] == {"component": "node-controller"}


def test_event_name_is_hex_unix_nanos() -> None:
    assert event_name("web", 255) == "web.ff"
    assert event_name("web-1", 1_700_000_000_000_000_000) == "web-1.17979cfe362a0000"
    assert rfc3339(T0 + 59.9) == "2026-01-01T00:00:59Z"


def record(c: EventCorrelator, obj: dict, reason: str, message: str, now: float):
    ev = make_event(obj, "Normal", reason, message, component="c", host=None, now=now)
    d = c.decide(ev, now)
    c.record(d, now)
    return d


@pytest.mark.parametrize(("second", "gap", "action", "count"), [
    (("Started", "Started container web"), 60, "patch", 2),  # same everything: aggregate
    (("Started", "Started container web"), 599, "patch", 2),
    (("Started", "Started container web"), 601, "create", 1),  # outside the 10 min window
    (("Started", "Started container db"), 60, "create", 1),  # another message
    (("Pulled", "Started container web"), 60, "create", 1),  # another reason
])
def test_repeats_within_ten_minutes_are_patched(second: tuple[str, str], gap: float, action: str, count: int) -> None:
    c = EventCorrelator()
    first = record(c, POD, "Started", "Started container web", T0)
    d = record(c, POD, *second, T0 + gap)
    assert (d.action, d.count) == (action, count)
    if action == "patch":
        assert (d.name, d.namespace) == (first.name, "prod")


def test_count_keeps_growing_and_window_slides_with_each_repeat() -> None:
    c = EventCorrelator()
    decisions = [record(c, POD, "BackOff", "Back-off", T0 + 500 * i) for i in range(4)]
    assert [d.count for d in decisions] == [1, 2, 3, 4]
    assert len({d.name for d in decisions}) == 1


def test_same_reason_on_another_object_is_another_event() -> None:
    c = EventCorrelator()
    record(c, POD, "Killing", "Stopping container", T0)
    other = {**POD, "metadata": {**POD["metadata"], "name": "web-2", "uid": "u-2"}}
    assert record(c, other, "Killing", "Stopping container", T0 + 1).action == "create"


def test_forget_after_not_found_starts_a_new_event() -> None:
    c = EventCorrelator()
    record(c, POD, "A", "m", T0)
    ev = make_event(POD, "Normal", "A", "m", component="c", host=None, now=T0 + 1)
    d = c.decide(ev, T0 + 1)
    assert d.action == "patch"
    c.forget(d)
    assert c.decide(ev, T0 + 1).action == "create"


def test_spam_filter_allows_a_burst_of_25_per_object_then_one_per_5_minutes() -> None:
    c = EventCorrelator()
    evs = [make_event(POD, "Normal", "Created", f"pod {i}", component="c", host=None, now=T0) for i in range(30)]
    assert [c.allow(e, T0) for e in evs] == [True] * 25 + [False] * 5
    other = {**POD, "metadata": {**POD["metadata"], "name": "web-2", "uid": "u-2"}}
    assert c.allow(make_event(other, "Normal", "Created", "x", component="c", host=None, now=T0), T0)
    assert not c.allow(evs[0], T0 + 299)
    assert c.allow(evs[0], T0 + 301)
    assert not c.allow(evs[0], T0 + 302)


def test_cache_is_bounded() -> None:
    c = EventCorrelator(max_entries=2)
    for i in range(3):
        record(c, POD, f"R{i}", "m", T0)
    assert record(c, POD, "R0", "m", T0 + 1).action == "create"  # evicted
    assert record(c, POD, "R2", "m", T0 + 1).action == "patch"


# -- the recorder against the real API server -------------------------------------------------------


async def test_recorder_writes_events_and_aggregates_repeats(api: ApiClient, namespace: str) -> None:
    cm = await api.create("configmaps", {"metadata": {"name": "subject"}}, namespace)
    rec = EventRecorder(api, "test-controller", host="node-1")
    try:
        for _ in range(3):
            rec.event(cm, "Warning", "FailedSync", "could not sync")
        rec.event(cm, "Normal", "Synced", "synced")
        await rec.flush(10)
    finally:
        await rec.close()
    items = (await api.list("events", namespace))["items"]
    by_reason = {e["reason"]: e for e in items}
    assert sorted(by_reason) == ["FailedSync", "Synced"] and len(items) == 2
    failed = by_reason["FailedSync"]
    assert failed["count"] == 3 and failed["type"] == "Warning"
    assert failed["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert failed["involvedObject"]["kind"] == "ConfigMap"
    assert failed["source"] == {"component": "test-controller", "host": "node-1"}
    assert failed["metadata"]["name"].startswith("subject.")
    assert rec.written == 4 and rec.dropped == 0


async def test_recorder_never_blocks_and_drops_when_full(api: ApiClient, namespace: str) -> None:
    rec = EventRecorder(api, "test", queue_size=2)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": namespace}}
    for i in range(5):  # synchronous calls: the writer has not run yet
        rec.event(obj, "Normal", "R", f"m{i}")
    assert rec.dropped == 3
    await rec.close()
    rec.event(obj, "Bogus", "R", "m")  # not Normal/Warning: refused, not sent
    assert rec.written == 2
