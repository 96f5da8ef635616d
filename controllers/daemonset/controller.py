"""The DaemonSet controller's I/O: informers on DaemonSets, Nodes, pods and
ControllerRevisions feed DaemonSet keys to a work queue; `reconcile` keeps the current
ControllerRevision, creates/deletes daemon pods so that every eligible node runs one, makes
one rolling-update step, prunes old revisions and writes status.

Pods are created unbound with a `metadata.name In [node]` node affinity so the scheduler
binds them (as Kubernetes does since 1.12). Never more than one create/delete wave per key in
flight (expectations); never a write of a cached object."""

from __future__ import annotations

import logging

from apimachinery.client import INDEX_CONTROLLER_UID, UIDTrackingControllerExpectations
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.informer import copy_object
from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, NotFound, StatusError
from apimachinery.selectors import LabelSelector
from controllers import podutil
from controllers.base import (
    CONTROLLERREVISIONS,
    DAEMONSETS,
    NODES,
    ORPHAN_INDEX,
    PODS,
    Controller,
    ControllerContext,
    claim,
    create_in_slow_start,
    gather_limited,
    owner_cache_key,
)
from controllers.daemonset import decisions as dsd
from controllers.podutil import Obj
from controllers.replicaset.decisions import BURST_REPLICAS

log = logging.getLogger(__name__)


def target_node(pod: Obj) -> str:
    """spec.nodeName, or for a pod not bound yet the node its daemon affinity names
    (util.GetTargetNodeName)."""
    name = (pod.get("spec") or {}).get("nodeName")
    if name:
        return name
    req = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in req.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(f.get("values") or []) == 1:
                return f["values"][0]
    return ""


POD_EVENT_BATCH = 0.05
"""Seconds a pod event waits before syncing its DaemonSet, so that the events of a wave of
pods (one per node: a thousand at once) coalesce into a few syncs, each O(nodes)."""


class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.ds_informer = ctx.informer(DAEMONSETS)
        self.node_informer = ctx.informer(NODES)
        self.pod_informer = ctx.informer(PODS)
        self.cr_informer = ctx.informer(CONTROLLERREVISIONS)
        self.recorder = ctx.recorder("daemonset-controller")
        self.expectations = UIDTrackingControllerExpectations()
        self._should_cache: dict[str, tuple[object, dict[str, tuple[object, tuple[bool, bool]]]]] = {}
        self.ds_informer.add_handler(on_add=self.enqueue, on_update=self._ds_updated, on_delete=self._ds_deleted)
        self.node_informer.add_handler(on_add=self._node_changed, on_update=self._node_updated,
                                       on_delete=self._node_changed)
        self.pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                      on_delete=self._pod_deleted)
        self.cr_informer.add_handler(on_add=self._cr_changed, on_delete=self._cr_changed)

    # -- handlers ----------------------------------------------------------------------------

    def _ds_updated(self, old: Obj, new: Obj) -> None:
        if podutil.only_status_changed(old, new):
            return  # our own status write coming back
        self.enqueue(new)

    def _ds_deleted(self, ds: Obj) -> None:
        self.expectations.delete(podutil.key_of(ds))
        self._should_cache.pop(podutil.uid_of(ds), None)
        self.enqueue(ds)

    def _node_changed(self, node: Obj) -> None:
        for ds in self.ds_informer.store.list():
            self.queue.add_after(podutil.key_of(ds), POD_EVENT_BATCH)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        # Heartbeats change only status timestamps: only labels, taints and the spec matter here.
        if (podutil.labels_of(old) == podutil.labels_of(new) and old.get("spec") == new.get("spec")):
            return
        self._node_changed(new)

    def _owner(self, obj: Obj) -> str | None:
        return owner_cache_key(self.ds_informer, obj, "DaemonSet")

    def _pod_added(self, pod: Obj) -> None:
        if podutil.is_deleting(pod):
            self._pod_deleted(pod)
            return
        key = self._owner(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add_after(key, POD_EVENT_BATCH)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not podutil.pod_change_matters(old, new):
            return
        if podutil.is_deleting(new) and not podutil.is_deleting(old):
            self._pod_deleted(new)
            return
        key = self._owner(new)
        if key is not None:
            self.queue.add_after(key, POD_EVENT_BATCH)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner(pod)
        if key is not None:
            self.expectations.deletion_observed(key, podutil.key_of(pod))
            self.queue.add_after(key, POD_EVENT_BATCH)

    def _cr_changed(self, cr: Obj) -> None:
        key = self._owner(cr)
        if key is not None:
            self.queue.add(key)

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        cached = self.ds_informer.store.get(key)
        if cached is None:
            self.expectations.delete(key)
            return None
        ds = copy_object(cached)
        if podutil.is_deleting(ds):
            return None
        try:
            return await self._sync(key, ds)
        except NotFound:
            return None

    async def _sync(self, key: str, ds: Obj) -> Result | None:
        selector = LabelSelector.from_dict((ds.get("spec") or {}).get("selector"))
        uid = podutil.uid_of(ds)
        ns = podutil.namespace_of(ds)
        histories = await claim(self.client, CONTROLLERREVISIONS, ds, "apps/v1", "DaemonSet",
                                self.cr_informer.store.by_index(INDEX_CONTROLLER_UID, uid),
                                self.cr_informer.store.by_index(ORPHAN_INDEX, ns), selector)
        cur, ds = await self._current_revision(ds, histories)
        hash_ = podutil.labels_of(cur).get(dsd.REVISION_HASH) or ""
        nodes = self.node_informer.store.list()
        pods = await claim(self.client, PODS, ds, "apps/v1", "DaemonSet",
                           self.pod_informer.store.by_index(INDEX_CONTROLLER_UID, uid),
                           self.pod_informer.store.by_index(ORPHAN_INDEX, ns), selector)
        by_node: dict[str, list[Obj]] = {}
        for p in pods:
            by_node.setdefault(target_node(p), []).append(p)
        at = podutil.now()
        should = self._should_run(ds, nodes)
        error: StatusError | None = None
        if self.expectations.satisfied(key):
            try:
                need, delete, failed = dsd.pods_should_be_on_nodes(ds, nodes, by_node, hash_, should)
                for name in failed:
                    p = next(p for p in pods if podutil.name_of(p) == name)
                    self.recorder.event(ds, WARNING, "FailedDaemonPod",
                                        f"Found failed daemon pod {ns}/{name} on node {target_node(p)}, "
                                        "will try to kill it")
                if need or delete:
                    await self._sync_nodes(key, ds, delete, need, hash_, pods)
                elif self.expectations.satisfied(key):
                    strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
                    if strategy == "RollingUpdate":
                        wanted = [podutil.name_of(n) for n in nodes if should[podutil.name_of(n)][0]]
                        node_pods = {n: by_node.get(n) or [] for n in wanted}
                        known = {podutil.name_of(n) for n in nodes}
                        node_pods.update({n: ps for n, ps in by_node.items() if n in known and ps})
                        old_delete, surge_nodes = dsd.rolling_update(ds, node_pods, hash_, at, len(wanted))
                        surge_nodes = [n for n in surge_nodes if n in wanted]
                        if old_delete or surge_nodes:
                            await self._sync_nodes(key, ds, old_delete, surge_nodes, hash_, pods)
                await self._cleanup_history(ds, histories, cur, pods)
            except StatusError as e:
                error = e
        status = dsd.calculate_status(ds, nodes, by_node, hash_, at, should)
        if any(status.get(k) != (ds.get("status") or {}).get(k) for k in status):
            upd = copy_object(ds)
            upd["status"] = {**(ds.get("status") or {}), **status}
            await self.client.update_status(DAEMONSETS, upd)
        if error is not None:
            raise error
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and status["numberAvailable"] < status["numberReady"]:
            return Result(requeue_after=float(min_ready))
        return None

    def _should_run(self, ds: Obj, nodes: list[Obj]) -> dsd.ShouldRun:
        """node_should_run for every node, memoised per (DaemonSet generation, node
        resourceVersion): with a thousand nodes it is most of a sync's work, and neither
        changes on a pod event."""
        uid, gen = podutil.uid_of(ds), podutil.meta(ds).get("generation")
        cache = self._should_cache.get(uid)
        if cache is None or cache[0] != gen:
            cache = self._should_cache[uid] = (gen, {})
        memo = cache[1]
        out: dsd.ShouldRun = {}
        for n in nodes:
            name, rv = podutil.name_of(n), podutil.meta(n).get("resourceVersion")
            hit = memo.get(name)
            if hit is None or hit[0] != rv:
                hit = memo[name] = (rv, dsd.node_should_run(n, ds))
            out[name] = hit[1]
        if len(memo) > 2 * len(nodes) + 16:
            for name in set(memo) - set(out):
                del memo[name]
        return out

    async def _current_revision(self, ds: Obj, histories: list[Obj]) -> tuple[Obj, Obj]:
        """The ControllerRevision matching the template, created (revision max+1) if missing
        or renumbered to max+1 if an older one was rolled back to (constructHistory)."""
        matching = [h for h in histories if dsd.revision_matches(ds, h)]
        top = max((int(h.get("revision") or 0) for h in histories), default=0)
        if matching:
            cur = max(matching, key=lambda h: int(h.get("revision") or 0))
            if int(cur.get("revision") or 0) < top:
                upd = copy_object(cur)
                upd["revision"] = top + 1
                cur = await self.client.replace(CONTROLLERREVISIONS, upd)
            return cur, ds
        obj = dsd.new_controller_revision(ds, top + 1)
        try:
            return await self.client.create(CONTROLLERREVISIONS, obj, podutil.namespace_of(ds)), ds
        except AlreadyExists:
            existing = await self.client.get(CONTROLLERREVISIONS, obj["metadata"]["name"], podutil.namespace_of(ds))
            ref = podutil.controller_ref(existing)
            if ref is not None and ref.get("uid") == podutil.uid_of(ds) and dsd.revision_matches(ds, existing):
                return existing, ds
            upd = copy_object(ds)
            upd["status"] = {**(ds.get("status") or {}),
                             "collisionCount": int((ds.get("status") or {}).get("collisionCount") or 0) + 1}
            await self.client.update_status(DAEMONSETS, upd)
            raise

    async def _sync_nodes(self, key: str, ds: Obj, delete: list[str], create_on: list[str], hash_: str,
                          pods: list[Obj]) -> None:
        """Create pods for `create_on` nodes (slow start, at most burst) and delete the named
        pods, under expectations (syncNodes)."""
        create_on = create_on[:BURST_REPLICAS]
        delete = delete[:BURST_REPLICAS]
        ns = podutil.namespace_of(ds)
        by_name = {podutil.name_of(p): p for p in pods}
        # One record for both: expect_deletions alone would replace the creation count, and a
        # sync before the creations are observed would then create duplicates.
        self.expectations.expect(key, len(create_on), [f"{ns}/{n}" for n in delete])
        outcome = await create_in_slow_start(self.client, self.recorder, self.expectations, key, ds,
                                             [dsd.new_pod(ds, node, hash_) for node in create_on], ns, limit=250)
        first = outcome.failure
        results = await gather_limited([self.client.delete(PODS, n, ns, preconditions={
            "uid": podutil.uid_of(by_name[n])} if n in by_name else None) for n in delete], 250)
        for n, r in zip(delete, results, strict=True):
            if isinstance(r, BaseException):
                self.expectations.deletion_observed(key, f"{ns}/{n}")
                if not isinstance(r, NotFound) and first is None:
                    first = r
                    self.recorder.event(ds, WARNING, "FailedDelete", f"Error deleting: {r}")
            else:
                self.recorder.event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {n}")
        if first is not None:
            raise first if isinstance(first, StatusError) else StatusError(500, "InternalError", str(first))

    async def _cleanup_history(self, ds: Obj, histories: list[Obj], cur: Obj, pods: list[Obj]) -> None:
        live = {podutil.labels_of(p).get(dsd.REVISION_HASH, "") for p in pods}
        for h in dsd.histories_to_cleanup(ds, histories, cur, live):
            try:
                await self.client.delete(CONTROLLERREVISIONS, podutil.name_of(h), podutil.namespace_of(h))
            except NotFound:
                pass
