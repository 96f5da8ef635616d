"""The Job controller's reconcile without a server (a fake API writing into the informer
caches): pods are created with the tracking finalizer, a succeeded pod is counted through
uncountedTerminatedPods and released in the same sync, a stale Job cache never leads to a
recount or an extra pod, a pod whose Job is gone is released, and a finished Job with
ttlSecondsAfterFinished is deleted when its TTL passes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from apimachinery.client import InformerFactory
from apimachinery.client.informer import copy_object
from apimachinery.client.rest import ApiClient
from apimachinery.errors import AlreadyExists, Conflict, NotFound
from controllers.base import ControllerContext
from controllers.job import decisions as d
from controllers.job.controller import ORPHAN_POD, JobController
from controllers.podutil import key_of

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


class Events:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str, **_: Any) -> None:
        self.events.append((reason, message))


class FakeAPI:
    """Writes go to a server-side dict; the test decides when the caches see them."""

    def __init__(self, ctrl: JobController) -> None:
        self.ctrl = ctrl
        self.server: dict[str, dict] = {}
        self.rv = itertools.count(10)
        self.deleted: list[str] = []

    def _kind(self, res: Any) -> str:
        return "jobs" if getattr(res, "plural", res) == "jobs" else "pods"

    def store(self, res: Any) -> Any:
        return self.ctrl.job_informer.store if self._kind(res) == "jobs" else self.ctrl.pod_informer.store

    def put(self, obj: dict, *, cache: bool = True) -> dict:
        obj = copy_object(obj)
        obj["metadata"]["resourceVersion"] = str(next(self.rv))
        kind = "jobs" if obj.get("kind") == "Job" else "pods"
        self.server[f"{kind}:{key_of(obj)}"] = obj
        if cache:
            self.store(kind)._put(key_of(obj), obj)
        return obj

    def install(self) -> None:
        c = self.ctrl.client
        names = itertools.count(1)

        async def create(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
            o = copy_object(obj)
            o["metadata"]["name"] = o["metadata"].pop("generateName") + f"p{next(names)}"
            o["metadata"]["uid"] = "uid-" + o["metadata"]["name"]
            o["metadata"]["namespace"] = namespace
            o["kind"] = "Pod"
            out = self.put(o)
            self.ctrl._pod_added(out)  # the informer's add event
            return out

        async def get(res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict:
            o = self.server.get(f"{self._kind(res)}:{namespace}/{name}")
            if o is None:
                raise NotFound(self._kind(res), name)
            return copy_object(o)

        async def update_status(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
            cur = self.server[f"jobs:{key_of(obj)}"]
            if cur["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise Conflict("jobs", obj["metadata"]["name"])
            return self.put(obj, cache=False)  # the cache sees it later (or never, in a test)

        async def patch(res: Any, name: str, body: dict, *, namespace: str | None = None, **kw: Any) -> dict:
            cur = copy_object(self.server[f"pods:{namespace}/{name}"])
            if body["metadata"].get("resourceVersion") not in (None, cur["metadata"]["resourceVersion"]):
                raise Conflict("pods", name)
            cur["metadata"]["finalizers"] = body["metadata"]["finalizers"] or []
            return self.put(cur, cache=False)

        async def delete(res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict:
            self.deleted.append(f"{self._kind(res)}:{namespace}/{name}")
            self.server.pop(f"{self._kind(res)}:{namespace}/{name}", None)
            return {}
        c.create, c.get, c.update_status, c.patch, c.delete = create, get, update_status, patch, delete  # type: ignore[method-assign]


def make(clock_at: list[datetime], **spec: Any) -> tuple[JobController, FakeAPI, Events]:
    client = ApiClient(server="https://127.0.0.1:9")
    ctrl = JobController(ControllerContext(client, InformerFactory(client)), clock=lambda: clock_at[0],
                         backoff_base=10)
    api = FakeAPI(ctrl)
    api.install()
    events = Events()
    ctrl.recorder = events  # type: ignore[assignment]
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "j", "namespace": "default", "uid": "job-uid"},
           "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
                    "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
                    "selector": {"matchLabels": {d.CONTROLLER_UID: "job-uid"}},
                    "template": {"metadata": {"labels": {d.CONTROLLER_UID: "job-uid", d.JOB_NAME: "j"}},
                                 "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}},
                    **spec}}
    api.put(job)
    return ctrl, api, events


def job_of(api: FakeAPI) -> dict:
    return api.server["jobs:default/j"]


def succeed(api: FakeAPI, name: str) -> dict:
    p = copy_object(api.server[f"pods:default/{name}"])
    p["status"] = {"phase": "Succeeded", "containerStatuses": [
        {"name": "c", "state": {"terminated": {"exitCode": 0, "finishedAt": "2024-05-01T10:00:05Z"}}}]}
    return api.put(p)


async def test_pod_created_counted_and_released_in_one_sync() -> None:
    now = [T0]
    ctrl, api, events = make(now)
    await ctrl.reconcile("default/j")
    (pod,) = [o for k, o in api.server.items() if k.startswith("pods:")]
    assert pod["metadata"]["finalizers"] == [d.TRACKING_FINALIZER]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert ("SuccessfulCreate", f"Created pod: {pod['metadata']['name']}") in events.events
    assert job_of(api)["status"]["active"] == 1
    ctrl.job_informer.store._put("default/j", job_of(api))  # the cache catches up

    succeed(api, pod["metadata"]["name"])
    now[0] = T0 + timedelta(seconds=10)
    await ctrl.reconcile("default/j")
    st = job_of(api)["status"]
    assert st["succeeded"] == 1 and "active" not in st and st["uncountedTerminatedPods"] == {}
    assert {c["type"] for c in st["conditions"]} == {"SuccessCriteriaMet", "Complete"}
    assert st["completionTime"] == "2024-05-01T10:00:10Z"
    assert api.server[f"pods:default/{pod['metadata']['name']}"]["metadata"]["finalizers"] == []
    assert ("Completed", "Job completed") in events.events

    # The Job cache lags our writes and the pod cache still shows the finalizer: the next
    # sync reads the Job live, counts nothing twice and creates nothing.
    await ctrl.reconcile("default/j")
    assert job_of(api)["status"]["succeeded"] == 1
    assert len([k for k in api.server if k.startswith("pods:")]) == 1


async def test_stale_job_cache_never_creates_a_replacement() -> None:
    now = [T0]
    ctrl, api, _ = make(now, completions=2)
    await ctrl.reconcile("default/j")
    ctrl.job_informer.store._put("default/j", job_of(api))
    first = next(o for k, o in api.server.items() if k.startswith("pods:"))["metadata"]["name"]
    succeed(api, first)
    await ctrl.reconcile("default/j")   # counts it, creates the second pod
    assert job_of(api)["status"]["succeeded"] == 1
    # The cache still has the Job without the count, the pod cache without the finalizer change.
    await ctrl.reconcile("default/j")
    assert job_of(api)["status"]["succeeded"] == 1
    assert len([k for k in api.server if k.startswith("pods:")]) == 2


async def test_pod_of_a_deleted_job_is_released() -> None:
    now = [T0]
    ctrl, api, _ = make(now)
    await ctrl.reconcile("default/j")
    pod = next(o for k, o in api.server.items() if k.startswith("pods:"))
    job = ctrl.job_informer.store.get("default/j")
    api.server.pop("jobs:default/j")
    ctrl.job_informer.store._remove("default/j")
    ctrl._job_deleted(job)
    await ctrl.reconcile(ORPHAN_POD + key_of(pod))
    assert api.server[f"pods:{key_of(pod)}"]["metadata"]["finalizers"] == []


async def test_ttl_after_finished() -> None:
    now = [T0]
    ctrl, api, _ = make(now, ttlSecondsAfterFinished=30)
    job = copy_object(job_of(api))
    job["status"] = {"completionTime": "2024-05-01T10:00:00Z", "succeeded": 1,
                     "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z"}]}
    api.put(job)
    now[0] = T0 + timedelta(seconds=10)
    res = await ctrl.reconcile("default/j")
    assert res is not None and res.requeue_after == 20 and api.deleted == []
    now[0] = T0 + timedelta(seconds=30)
    assert await ctrl.reconcile("default/j") is None
    assert api.deleted == ["jobs:default/j"]


async def test_backoff_requeues_instead_of_creating() -> None:
    now = [T0]
    ctrl, api, _ = make(now, backoffLimit=3)
    await ctrl.reconcile("default/j")
    ctrl.job_informer.store._put("default/j", job_of(api))
    pod = next(o for k, o in api.server.items() if k.startswith("pods:"))
    p = copy_object(pod)
    p["status"] = {"phase": "Failed", "containerStatuses": [
        {"name": "c", "state": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T10:00:00Z"}}}]}
    api.put(p)
    now[0] = T0 + timedelta(seconds=4)
    res = await ctrl.reconcile("default/j")
    assert job_of(api)["status"]["failed"] == 1
    assert res is not None and res.requeue_after == 6   # 10 s after the failure
    assert len([k for k in api.server if k.startswith("pods:")]) == 1
    now[0] = T0 + timedelta(seconds=10)
    await ctrl.reconcile("default/j")
    assert len([k for k in api.server if k.startswith("pods:")]) == 2


async def test_a_taken_generated_name_is_retried_not_awaited() -> None:
    # AlreadyExists on a create means nothing was created: waiting for the pod's add event
    # (expectations) would stall the Job for the 5-minute expectations timeout.
    now = [T0]
    ctrl, api, events = make(now)
    created = ctrl.client.create

    async def taken(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
        raise AlreadyExists("pods", obj["metadata"]["generateName"] + "xyz12")
    ctrl.client.create = taken  # type: ignore[method-assign]
    res = await ctrl.reconcile("default/j")
    assert res is not None and res.requeue  # again, with backoff
    assert ctrl.expectations.satisfied("default/j")
    ctrl.client.create = created  # type: ignore[method-assign]
    await ctrl.reconcile("default/j")
    assert len([k for k in api.server if k.startswith("pods:")]) == 1
