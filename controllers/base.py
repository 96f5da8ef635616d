"""What every mizzen controller shares: the context it runs in (client, shared informers,
event recorder) and the client-go skeleton (handlers enqueue keys; workers reconcile keys).

A controller subclass declares its informers and handlers in `__init__` and implements
`reconcile(key)`. Handlers only enqueue keys and note expectations; they never write.
Nothing here may mutate an object read from an informer cache: copy first."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from apimachinery import resources
from apimachinery.client import EventRecorder, Informer, InformerFactory
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.informer import copy_object
from apimachinery.client.rest import ApiClient
from apimachinery.client.workqueue import Result, WorkQueue, run_workers
from apimachinery.errors import StatusError
from apimachinery.resources import ResourceInfo
from controllers import podutil
from controllers.podutil import Obj
from controllers.replicaset.decisions import slow_start_batches

log = logging.getLogger(__name__)

R = resources.DEFAULT


def res(plural: str, group: str = "") -> ResourceInfo:
    for r in R:
        if r.plural == plural and r.group == group:
            return r
    raise KeyError(f"{plural}.{group}")


PODS = res("pods")
NODES = res("nodes")
NAMESPACES = res("namespaces")
REPLICASETS = res("replicasets", "apps")
DEPLOYMENTS = res("deployments", "apps")
DAEMONSETS = res("daemonsets", "apps")
CONTROLLERREVISIONS = res("controllerrevisions", "apps")

ORPHAN_INDEX = "orphan-namespace"
"""Index of objects with no controller ownerReference (and not being deleted), by namespace:
the candidates for adoption, found without scanning a whole namespace."""


def index_orphans(obj: Obj) -> list[str]:
    if podutil.controller_ref(obj) is not None or podutil.is_deleting(obj):
        return []
    return [podutil.namespace_of(obj)]


@dataclass
class ControllerContext:
    client: ApiClient
    factory: InformerFactory
    recorders: dict[str, EventRecorder] = field(default_factory=dict)

    def informer(self, r: ResourceInfo) -> Informer:
        inf = self.factory.informer(r)
        if ORPHAN_INDEX not in inf.store._indexers:
            inf.store.add_indexer(ORPHAN_INDEX, index_orphans)
        return inf

    def recorder(self, component: str) -> EventRecorder:
        rec = self.recorders.get(component)
        if rec is None:
            rec = self.recorders[component] = EventRecorder(self.client, component)
        return rec


class Controller:
    """The skeleton: a named work queue and N workers calling `reconcile`."""

    name = "controller"

    def __init__(self, ctx: ControllerContext):
        self.ctx = ctx
        self.client = ctx.client
        self.queue = WorkQueue(self.name)

    def enqueue(self, obj_or_key: Obj | str) -> None:
        self.queue.add(obj_or_key if isinstance(obj_or_key, str) else podutil.key_of(obj_or_key))

    async def reconcile(self, key: Any) -> Result | None:
        raise NotImplementedError

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self.queue, self.reconcile, workers, name=self.name, logger=log)
        finally:
            self.queue.shutdown()


def owner_key(obj: Obj, kind: str) -> tuple[str, str] | None:
    """(key of the controlling owner of `kind`, its uid), from the controller ownerReference."""
    ref = podutil.controller_ref(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    ns = podutil.namespace_of(obj)
    return (f"{ns}/{ref.get('name')}" if ns else ref.get("name", "")), ref.get("uid", "")


def owner_cache_key(informer: Informer, obj: Obj, kind: str) -> str | None:
    """The cache key of the controlling owner of `kind`, when the cache holds that very owner
    (uid checked: a namesake created since is not the owner)."""
    ok = owner_key(obj, kind)
    if ok is None:
        return None
    owner = informer.store.get(ok[0])
    return ok[0] if owner is not None and podutil.uid_of(owner) == ok[1] else None


def resolve_owner(informer: Informer, obj: Obj, kind: str) -> Obj | None:
    """The owner object from the cache, if the ownerReference points at it (uid checked)."""
    key = owner_cache_key(informer, obj, kind)
    return None if key is None else informer.store.get(key)


def pod_from_template(owner: Obj, template: Obj, api_version: str, kind: str) -> Obj:
    """A pod for a ReplicaSet (GetPodFromTemplate): generateName `<owner>-`, the template's
    labels, annotations, finalizers and spec, a controller ownerReference."""
    tm = template.get("metadata") or {}
    meta: Obj = {"generateName": podutil.name_of(owner) + "-", "namespace": podutil.namespace_of(owner),
                 "labels": dict(tm.get("labels") or {}),
                 "ownerReferences": [podutil.new_controller_ref(owner, api_version, kind)]}
    if tm.get("annotations"):
        meta["annotations"] = dict(tm["annotations"])
    if tm.get("finalizers"):
        meta["finalizers"] = list(tm["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy_object(template.get("spec") or {})}


async def gather_limited(coros: list[Any], limit: int = 100) -> list[Any]:
    """Run coroutines concurrently, at most `limit` at a time, returning results or exceptions."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


@dataclass
class CreateOutcome:
    """What `create_in_slow_start` did: the first failure that stopped it (None: none did)
    and how many creates failed with a failure that was not allowed to stop it."""

    failure: BaseException | None = None
    tolerated: int = 0

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure if isinstance(self.failure, StatusError) else \
                StatusError(500, "InternalError", str(self.failure))


async def create_in_slow_start(client: ApiClient, recorder: EventRecorder, expectations: Any, key: str,
                               owner: Obj, bodies: list[Obj], namespace: str, *, limit: int,
                               tolerate: type[BaseException] | None = None) -> CreateOutcome:
    """Create pods in slow-start batches (1, 2, 4, ...: slowStartBatch), with the events and
    expectations Kubernetes' controllers keep: each create that fails lowers the expectations
    (no watch event will come for it); the first failure gets a FailedCreate event and stops
    the batches, and the expectations of what was never attempted are lowered too. Failures
    of type `tolerate` are counted instead and do not stop the batches."""
    out = CreateOutcome()
    done = 0
    for size in slow_start_batches(len(bodies)):
        batch, done = bodies[done:done + size], done + size
        results = await gather_limited([client.create(PODS, b, namespace) for b in batch], limit)
        for r in results:
            if not isinstance(r, BaseException):
                recorder.event(owner, NORMAL, "SuccessfulCreate", f"Created pod: {podutil.name_of(r)}")
                continue
            expectations.creation_observed(key)
            if tolerate is not None and isinstance(r, tolerate):
                out.tolerated += 1
            elif out.failure is None:
                out.failure = r
                recorder.event(owner, WARNING, "FailedCreate", f"Error creating: {r}")
        if out.failure is not None:
            for _ in range(len(bodies) - done):
                expectations.creation_observed(key)  # never attempted
            break
    return out


async def claim(client: ApiClient, r: ResourceInfo, owner: Obj, owner_api_version: str, owner_kind: str,
                owned: list[Obj], orphans: list[Obj], selector: Any) -> list[Obj]:
    """The objects `owner` controls after adopting matching orphans and releasing owned ones
    that stopped matching (ControllerRefManager.Claim*). Adoption and release are merge
    patches carrying the object's resourceVersion, so a concurrent change wins (409) and the
    next sync decides again. An owner being deleted neither adopts nor releases."""
    from controllers.replicaset.decisions import claim_decision

    uid = podutil.uid_of(owner)
    deleting = podutil.is_deleting(owner)
    out: list[Obj] = []
    rest: list[Obj] = []
    # Fast path: `owned` come from the controller-uid index, so they are ours; most still match.
    for o in owned:
        if selector.matches((o.get("metadata") or {}).get("labels") or {}):
            out.append(o)
        else:
            rest.append(o)
    owned_uids = {podutil.uid_of(o) for o in rest} if rest else set()
    rest.extend(o for o in orphans if podutil.uid_of(o) not in owned_uids and podutil.controller_ref(o) is None)
    for o in rest:
        what = claim_decision(o, uid, selector.matches(podutil.labels_of(o)), deleting)
        if what == "own":
            out.append(o)
            continue
        if what == "ignore":
            continue
        refs = [dict(x) for x in podutil.meta(o).get("ownerReferences") or [] if x.get("uid") != uid]
        if what == "adopt":
            refs.append(podutil.new_controller_ref(owner, owner_api_version, owner_kind))
        body = {"metadata": {"ownerReferences": refs or None, "uid": podutil.uid_of(o),
                             "resourceVersion": podutil.meta(o).get("resourceVersion")}}
        try:
            patched = await client.patch(r, podutil.name_of(o), body, namespace=podutil.namespace_of(o) or None)
        except StatusError as e:
            if e.code in (404, 409):
                continue  # gone or changed meanwhile: the next sync sees the new state
            raise
        if what == "adopt":
            out.append(patched)
    return out
