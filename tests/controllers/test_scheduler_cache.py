"""The scheduler's cache and binding without a server: informer handlers account bound pods
and queue pending ones, a decision assumes its pod at once, a failed binding forgets it and
backs the pod off, pods of other schedulers are left alone."""

from __future__ import annotations

import asyncio
from typing import Any

from apimachinery.client.rest import ApiClient
from apimachinery.errors import Conflict, StatusError
from controllers.scheduler import Scheduler


def node(name: str, cpu: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}, "resourceVersion": "1"},
            "spec": {}, "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"}}}


def pod(name: str, cpu: str = "600m", *, node_name: str = "", scheduler: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}
    if node_name:
        spec["nodeName"] = node_name
    if scheduler:
        spec["schedulerName"] = scheduler
    return {"metadata": {"name": name, "namespace": "default", "uid": "uid-" + name, "resourceVersion": "1"},
            "spec": spec, "status": {"phase": "Pending"}}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str, **_: Any) -> None:
        self.events.append((type_, reason, message))


def make(bind_error: StatusError | None = None) -> tuple[Scheduler, list[dict], Recorder]:
    client = ApiClient(server="https://127.0.0.1:9")
    rec = Recorder()
    s = Scheduler(client, recorder=rec)  # type: ignore[arg-type]
    calls: list[dict] = []

    async def create(res: Any, body: dict, namespace: str | None = None, **kw: Any) -> dict:
        calls.append({"body": body, **kw})
        if bind_error is not None:
            raise bind_error
        return {}

    async def patch(res: Any, name: str, body: Any, **kw: Any) -> dict:
        calls.append({"patch": body, "name": name, **kw})
        return {}
    client.create = create  # type: ignore[method-assign]
    client.patch = patch  # type: ignore[method-assign]
    return s, calls, rec


def add(s: Scheduler, obj: dict) -> None:
    inf = s.pod_informer if obj["spec"].get("containers") is not None else s.node_informer
    key = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}" if "namespace" in obj["metadata"] \
        else obj["metadata"]["name"]
    inf.store._put(key, obj)
    (s._pod_added if inf is s.pod_informer else s._node_added)(obj)


async def drain(s: Scheduler) -> None:
    while (qp := s.queue.pop_nowait()) is not None:
        s.schedule_one(qp.info)
    await asyncio.gather(*s._tasks)


async def test_bind_assumes_then_informer_confirms() -> None:
    s, calls, rec = make()
    add(s, node("n1"))
    add(s, pod("a"))
    await drain(s)
    assert calls[0]["subresource"] == "binding"
    assert calls[0]["body"]["target"] == {"apiVersion": "v1", "kind": "Node", "name": "n1"}
    assert s.nodes["n1"].requested["cpu"] == 600  # assumed
    assert rec.events == [("Normal", "Scheduled", "Successfully assigned default/a to n1")]
    bound = pod("a", node_name="n1")
    s._pod_updated(pod("a"), bound)
    assert s.nodes["n1"].requested["cpu"] == 600 and len(s.nodes["n1"].pods) == 1  # counted once
    s._pod_deleted(bound)
    assert s.nodes["n1"].requested["cpu"] == 0


async def test_assumed_pod_blocks_overcommit_and_reports_why() -> None:
    s, calls, rec = make()
    add(s, node("n1"))
    add(s, pod("a"))
    add(s, pod("b"))
    await drain(s)
    binds = [c for c in calls if c.get("subresource") == "binding"]
    assert len(binds) == 1
    status = next(c for c in calls if c.get("subresource") == "status")
    cond = status["patch"]["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert cond["message"] == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
                               "1 No preemption victims found for incoming pod.")
    assert ("Warning", "FailedScheduling", cond["message"]) in rec.events
    assert s.queue.where("default/" + status["name"]) == "unschedulable"
    # A new node is a cluster event: the pod is tried again (after its 1 s backoff).
    add(s, node("n2"))
    assert s.queue.where("default/" + status["name"]) in ("backoff", "active")


async def test_failed_binding_is_forgotten_and_backed_off() -> None:
    s, calls, rec = make(bind_error=StatusError(500, "InternalError", "boom"))
    add(s, node("n1"))
    add(s, pod("a"))
    await drain(s)
    assert s.nodes["n1"].requested.get("cpu", 0) == 0
    assert s.queue.where("default/a") == "backoff"
    assert not [e for e in rec.events if e[1] == "Scheduled"]


async def test_pod_bound_meanwhile_is_dropped_without_binding() -> None:
    s, calls, rec = make()
    add(s, node("n1"))
    add(s, pod("a"))
    s.pod_informer.store._put("default/a", pod("a", node_name="n2"))  # bound by someone else meanwhile
    qp = s.queue.pop_nowait()
    s.schedule_one(qp.info)
    await asyncio.gather(*s._tasks)
    assert not calls
    assert s.queue.where("default/a") is None


async def test_conflict_forgets_the_assumed_pod() -> None:
    s, calls, rec = make(bind_error=Conflict(message="pod a is already assigned"))
    add(s, node("n1"))
    add(s, pod("a"))
    await drain(s)
    assert s.nodes["n1"].requested.get("cpu", 0) == 0
    assert s.queue.where("default/a") == "backoff"  # the cache still says pending: tried again later


async def test_other_schedulers_pods_are_ignored() -> None:
    s, calls, rec = make()
    add(s, node("n1"))
    add(s, pod("a", scheduler="my-scheduler"))
    await drain(s)
    assert calls == [] and rec.events == []
