"""The ReplicaSet controller's reconcile without a server (a fake API that writes into the
informer caches as the watch would): a generated pod name that is already taken (the API
server answers AlreadyExists; nothing was created) must neither leave the controller waiting
on expectations for a pod that will never appear nor be reported as a failure, and the next
sync makes up for it."""

from __future__ import annotations

import itertools
from typing import Any

from apimachinery.client import InformerFactory
from apimachinery.client.informer import copy_object
from apimachinery.client.rest import ApiClient
from apimachinery.errors import AlreadyExists
from controllers.base import ControllerContext
from controllers.podutil import key_of
from controllers.replicaset.controller import ReplicaSetController


class Events:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def event(self, obj: dict, type_: str, reason: str, message: str, **_: Any) -> None:
        self.reasons.append(reason)


def make(replicas: int, taken: set[int]) -> tuple[ReplicaSetController, dict[str, dict], Events]:
    """A controller whose pod creates number 1, 2, ... fail with AlreadyExists for `taken`."""
    client = ApiClient(server="https://127.0.0.1:9")
    ctrl = ReplicaSetController(ControllerContext(client, InformerFactory(client)))
    events = Events()
    ctrl.recorder = events  # type: ignore[assignment]
    pods: dict[str, dict] = {}
    calls = itertools.count(1)
    rvs = itertools.count(10)

    async def create(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
        n = next(calls)
        o = copy_object(obj)
        o["metadata"]["name"] = o["metadata"].pop("generateName") + f"p{n}"
        if n in taken:
            raise AlreadyExists("pods", o["metadata"]["name"])
        o["metadata"].update(uid=f"uid-{n}", namespace=namespace, resourceVersion=str(next(rvs)))
        pods[key_of(o)] = o
        ctrl.pod_informer.store._put(key_of(o), o)
        ctrl._pod_added(o)  # the informer's add event
        return o

    async def update_status(res: Any, obj: dict, namespace: str | None = None, **kw: Any) -> dict:
        o = copy_object(obj)
        o["metadata"]["resourceVersion"] = str(next(rvs))
        ctrl.rs_informer.store._put(key_of(o), o)
        return o
    client.create, client.update_status = create, update_status  # type: ignore[method-assign]
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web", "namespace": "default", "uid": "rs-uid", "resourceVersion": "1",
                       "generation": 1},
          "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    ctrl.rs_informer.store._put("default/web", rs)
    return ctrl, pods, events


async def test_a_taken_generated_name_is_made_up_for_at_the_next_sync() -> None:
    ctrl, pods, events = make(5, taken={3})
    result = await ctrl.reconcile("default/web")
    assert len(pods) == 4
    assert result is not None and result.requeue  # again soon, for the missing pod
    assert ctrl.expectations.satisfied("default/web")
    assert "FailedCreate" not in events.reasons
    assert not ctrl.rs_informer.store.get("default/web")["status"].get("conditions")  # no ReplicaFailure

    result = await ctrl.reconcile("default/web")
    assert len(pods) == 5
    assert result is None
    await ctrl.reconcile("default/web")  # woken by the pods' add events
    assert ctrl.rs_informer.store.get("default/web")["status"]["replicas"] == 5


async def test_all_names_free_is_one_sync() -> None:
    ctrl, pods, events = make(7, taken=set())
    assert await ctrl.reconcile("default/web") is None
    assert len(pods) == 7
    assert events.reasons == ["SuccessfulCreate"] * 7
