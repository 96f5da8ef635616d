"""The scheduler's I/O: informers on pods and nodes keep the cache (`NodeInfo` per node, with
what bound and assumed pods request) and the scheduling queue up to date; one loop takes a
pod, decides (filters, then scores), assumes the pod on the chosen node at once, and binds
it through `POST pods/<name>/binding` in the background, so the next decision already sees
the node's new load (the assumed-pod cache). A binding that fails is forgotten and the pod
retried after backoff. A pod that fits nowhere gets PodScheduled=False (reason
Unschedulable, Kubernetes' message) through pods/status and a FailedScheduling event.

    await run_scheduler("/path/kubeconfig", stop=stop_event)

Only pods whose `spec.schedulerName` is `default-scheduler` are ours. Speed: a decision
never parses an object (PodInfo/NodeInfo are built by the informer handlers), caches the
verdict of the node-only filters per kind of pod until a node changes, and stops looking
once it found enough feasible nodes (kube-scheduler's percentageOfNodesToScore), starting
where the previous decision stopped so that every node gets its turn.

It talks only to the REST API; it never mutates an informer-cache object."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from apimachinery.client import EventRecorder, InformerFactory
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.leader import run_as_leader
from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient
from apimachinery.errors import StatusError
from controllers.base import NODES, PODS
from controllers.scheduler import filters as F
from controllers.scheduler.filters import CycleState, Status, fit_error_message, prefilter
from controllers.scheduler.framework import CPU, DEFAULT_SCHEDULER, EPHEMERAL, MEMORY, NodeInfo, Obj, PodInfo
from controllers.scheduler.framework import PODS as PODS_RESOURCE
from controllers.scheduler.queue import SchedulingQueue
from controllers.scheduler.scores import (
    MAX_SCORE,
    WEIGHT_BALANCED,
    WEIGHT_LEAST_ALLOCATED,
    WEIGHT_SPREAD,
    WEIGHT_TAINT,
    normalize,
    score_nodes,
    spread_scores,
    taint_toleration_raw,
)

log = logging.getLogger(__name__)

LEASE_NAME = "kube-scheduler"
LEASE_NAMESPACE = "kube-system"
NO_NODES = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5


def num_feasible_nodes_to_find(num_nodes: int, percentage: int = 0) -> int:
    """kube-scheduler's numFeasibleNodesToFind: every node up to 100; beyond, an adaptive
    share, 50% minus 1% per 125 nodes, at least 5% and at least 100 nodes.

    Worked example: 1,000 nodes -> 50 - 8 = 42% -> 420; 5,000 nodes -> 50 - 40 = 10% -> 500."""
    if num_nodes < MIN_FEASIBLE_NODES or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(MIN_FEASIBLE_PERCENTAGE, 50 - num_nodes // 125)
    n = num_nodes * percentage // 100
    return max(n, MIN_FEASIBLE_NODES)


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _spec_changed(old: Obj, new: Obj) -> bool:
    """isPodUpdated: a change other than status, resourceVersion or managed fields."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return (old.get("spec") != new.get("spec") or om.get("labels") != nm.get("labels")
            or om.get("annotations") != nm.get("annotations"))


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Scheduler:
    """The default scheduler on shared informers of `factory`."""

    def __init__(self, client: ApiClient, factory: InformerFactory | None = None, *,
                 recorder: EventRecorder | None = None, bind_concurrency: int = 64, percentage_of_nodes: int = 0,
                 scheduler_name: str = DEFAULT_SCHEDULER, rng: random.Random | None = None):
        self.client = client
        self.factory = factory or InformerFactory(client)
        self.recorder = recorder or EventRecorder(client, "default-scheduler", queue_size=20000)
        self.scheduler_name = scheduler_name
        self.percentage = percentage_of_nodes
        self.rng = rng or random.Random()
        self.queue = SchedulingQueue()
        self.nodes: dict[str, NodeInfo] = {}
        self._node_list: list[NodeInfo] | None = None
        self._ghosts: dict[str, NodeInfo] = {}  # pods bound to nodes we have not seen (yet)
        self._accounted: dict[str, str] = {}  # pod uid -> node it is counted on
        self._assumed: dict[str, str] = {}  # pod uid -> node, binding in flight
        self._anti: dict[str, PodInfo] = {}  # bound pods with required anti-affinity
        self._static: dict[str, tuple[int, list[Status | None], list[int] | None]] = {}
        self.last_scores: list[tuple[str, int]] = []
        self._static_version = 0
        self._next_start = 0
        self._bind_sem = asyncio.Semaphore(bind_concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.scheduled = 0
        self.failed = 0
        self.decision_seconds = 0.0
        self.decisions = 0
        self.pod_informer = self.factory.informer(PODS)
        self.node_informer = self.factory.informer(NODES)
        self.pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                      on_delete=self._pod_deleted)
        self.node_informer.add_handler(on_add=self._node_added, on_update=self._node_updated,
                                       on_delete=self._node_deleted)

    # -- cache ----------------------------------------------------------------------------------

    def _node_or_ghost(self, name: str) -> NodeInfo:
        ni = self.nodes.get(name)
        if ni is None:
            ni = self._ghosts.get(name)
            if ni is None:
                ni = self._ghosts[name] = NodeInfo(name)
        return ni

    def _account(self, info: PodInfo, node: str) -> None:
        prev = self._accounted.get(info.uid)
        if prev is not None and prev != node:
            self._unaccount(info.uid)
        self._node_or_ghost(node).add_pod(info)
        self._accounted[info.uid] = node
        if info.anti_affinity:
            self._anti[info.uid] = info

    def _unaccount(self, uid: str) -> bool:
        node = self._accounted.pop(uid, None)
        self._anti.pop(uid, None)
        if node is None:
            return False
        ni = self.nodes.get(node) or self._ghosts.get(node)
        if ni is not None:
            p = ni.pods.get(uid)
            if p is not None:
                ni.remove_pod(p)
        return True

    def _responsible(self, info: PodInfo) -> bool:
        return info.scheduler_name == self.scheduler_name

    def _pod_added(self, pod: Obj) -> None:
        self._pod_changed(pod, spec_changed=True)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(new, spec_changed=_spec_changed(old, new))

    def _pod_changed(self, pod: Obj, spec_changed: bool) -> None:
        info = PodInfo.of(pod)
        if info.node_name:
            self._assumed.pop(info.uid, None)
            self.queue.delete(info.key)
            if is_terminal(pod):
                if self._unaccount(info.uid):
                    self.queue.move_all()
            else:
                self._account(info, info.node_name)
            return
        if info.uid in self._assumed:
            return  # binding in flight: the bound version will come
        if is_terminal(pod) or (pod.get("metadata") or {}).get("deletionTimestamp") or not self._responsible(info):
            self.queue.delete(info.key)
            return
        if spec_changed or self.queue.where(info.key) is None:
            self.queue.add(info)

    def _pod_deleted(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        self.queue.delete(key)
        self._assumed.pop(meta.get("uid", ""), None)
        if self._unaccount(meta.get("uid", "")):
            self.queue.move_all()

    def _node_added(self, node: Obj) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        ni = self._ghosts.pop(name, None) or NodeInfo(name)
        ni.set_node(node)
        self.nodes[name] = ni
        self._node_list = None
        self._static_version += 1
        self.queue.move_all()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        name = (new.get("metadata") or {}).get("name", "")
        ni = self.nodes.get(name)
        if ni is None:
            self._node_added(new)
            return
        before = ni.allocatable
        if ni.set_node(new):
            self._static_version += 1
            self.queue.move_all()
        elif ni.allocatable != before:
            self.queue.move_all()

    def _node_deleted(self, node: Obj) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        ni = self.nodes.pop(name, None)
        if ni is not None and ni.pods:
            ni.obj = None
            self._ghosts[name] = ni
        self._node_list = None
        self._static_version += 1

    def node_list(self) -> list[NodeInfo]:
        if self._node_list is None:
            self._node_list = [self.nodes[n] for n in sorted(self.nodes)]
        return self._node_list

    # -- deciding (no I/O) ----------------------------------------------------------------------

    def _static_results(self, info: PodInfo, nodes: list[NodeInfo]) -> tuple[list[Status | None], list[int] | None]:
        """The node-only filters' verdict for each of `nodes` (in order), and how many
        PreferNoSchedule taints each has that the pod does not tolerate (None: no node has
        any), cached per kind of pod until a node's labels, taints or schedulability change."""
        cached = self._static.get(info.static_key)
        if cached is not None and cached[0] == self._static_version:
            return cached[1], cached[2]
        state = CycleState()
        results = [F.run_filters(info, n, state, F.STATIC_FILTERS) for n in nodes]
        prefer: list[int] | None = None
        if any(t.get("effect") == "PreferNoSchedule" for n in nodes for t in n.taints):
            prefer = [taint_toleration_raw(info, n) for n in nodes]
        if len(self._static) > 512:
            self._static.clear()
        self._static[info.static_key] = (self._static_version, results, prefer)
        return results, prefer

    def decide(self, info: PodInfo) -> tuple[str | None, dict[str, Status]]:
        """(the chosen node, {}) or (None, every node's reason). The scores of the feasible
        nodes are left in `last_scores` (for tests)."""
        nodes = self.node_list()
        n = len(nodes)
        if n == 0:
            return None, {}
        static, prefer = self._static_results(info, nodes)
        want = num_feasible_nodes_to_find(n, self.percentage)
        start = self._next_start % n
        if not (info.ports or info.spread or info.affinity or info.anti_affinity):
            forbidden = self._prefilter(info, nodes).existing_anti_forbidden if self._anti else set()
            feasible, base, statuses, seen = self._filter_simple(info, nodes, static, want, start, forbidden)
        else:
            feasible, statuses, seen = self._filter_full(info, nodes, static, want, start)
            base = None
        self._next_start = (start + seen) % n
        if not feasible:
            self.last_scores = []
            return None, statuses
        if base is None:
            scores = score_nodes(info, [nodes[i] for i in feasible])
        else:
            taint = normalize([prefer[i] for i in feasible], reverse=True) if prefer is not None else None
            spread = spread_scores(info, [nodes[i] for i in feasible]) if info.owner_uid else None
            scores = [base[k] + WEIGHT_TAINT * (taint[k] if taint is not None else MAX_SCORE)
                      + WEIGHT_SPREAD * (spread[k] if spread is not None else MAX_SCORE) for k in range(len(feasible))]
        self.last_scores = [(nodes[i].name, sc) for i, sc in zip(feasible, scores, strict=True)]
        best = max(scores)
        winners = [feasible[k] for k, sc in enumerate(scores) if sc == best]
        return nodes[winners[0] if len(winners) == 1 else self.rng.choice(winners)].name, {}

    def _prefilter(self, info: PodInfo, nodes: list[NodeInfo]) -> CycleState:
        return prefilter(info, nodes, [(p, self._node_or_ghost(self._accounted.get(u, "")))
                                       for u, p in self._anti.items()])

    def _filter_full(self, info: PodInfo, nodes: list[NodeInfo], static: list[Status | None], want: int,
                     start: int) -> tuple[list[int], dict[str, Status], int]:
        state = self._prefilter(info, nodes)
        feasible: list[int] = []
        statuses: dict[str, Status] = {}
        n = len(nodes)
        seen = 0
        for k in range(n):
            i = start + k if start + k < n else start + k - n
            seen += 1
            st = static[i]
            if st is None:
                st = F.run_filters(info, nodes[i], state, F.DYNAMIC_FILTERS)
            if st is None:
                feasible.append(i)
                if len(feasible) >= want:
                    break
            else:
                statuses[nodes[i].name] = st
        return feasible, statuses, seen

    def _filter_simple(self, info: PodInfo, nodes: list[NodeInfo], static: list[Status | None], want: int,
                       start: int, forbidden: set[tuple[str, str]]) -> tuple[list[int], list[int], dict[str, Status], int]:
        """The fast path for pods whose only changing filters are NodeResourcesFit and the
        anti-affinity of bound pods (`forbidden` domains; the pod has no ports, spread or
        pod affinity of its own): filters and the resource
        scores (LeastAllocated + BalancedAllocation, exactly as scores.py computes them) in
        one loop over flat numbers."""
        req = info.requests
        rcpu, rmem, reph = req.get(CPU, 0), req.get(MEMORY, 0), req.get(EPHEMERAL, 0)
        extended = any(r not in (CPU, MEMORY, EPHEMERAL, PODS_RESOURCE) for r in req)
        pcpu, pmem = info.nonzero_cpu, info.nonzero_mem
        feasible: list[int] = []
        base: list[int] = []
        statuses: dict[str, Status] = {}
        empty = CycleState()
        n = len(nodes)
        seen = 0
        for k in range(n):
            i = start + k if start + k < n else start + k - n
            seen += 1
            node = nodes[i]
            st = static[i]
            if st is None:
                if (len(node.pods) >= node.a_pods or (rcpu and rcpu > node.a_cpu - node.u_cpu)
                        or (rmem and rmem > node.a_mem - node.u_mem) or (reph and reph > node.a_eph - node.u_eph)
                        or (extended and F.node_resources_fit(info, node, empty) is not None)):
                    st = F.node_resources_fit(info, node, empty)
                elif forbidden and any(node.labels.get(key) == value for key, value in forbidden):
                    st = F.Status((F.ERR_EXISTING_ANTI_AFFINITY,), False, "InterPodAffinity")
                if st is None:
                    ac, am = node.a_cpu, node.a_mem
                    tc, tm = node.nonzero_cpu + pcpu, node.nonzero_mem + pmem
                    la = ((ac - tc) * MAX_SCORE // ac if ac > 0 and tc <= ac else 0) + \
                         ((am - tm) * MAX_SCORE // am if am > 0 and tm <= am else 0)
                    fc = min(1.0, tc / ac) if ac > 0 else 1.0
                    fm = min(1.0, tm / am) if am > 0 else 1.0
                    ba = int((1 - abs(fc - fm) / 2) * MAX_SCORE)
                    feasible.append(i)
                    base.append(WEIGHT_LEAST_ALLOCATED * (la // 2) + WEIGHT_BALANCED * ba)
                    if len(feasible) >= want:
                        break
                    continue
            statuses[node.name] = st
        return feasible, base, statuses, seen

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Schedule until cancelled (or `stop` is set). Informers must be started (or are)."""
        self.factory.start()
        await self.factory.wait_synced()
        log.info("scheduler: caches synced (%d nodes, %d pending)", len(self.nodes), len(self.queue))
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        try:
            while stop is None or not stop.is_set():
                qp = self.queue.pop_nowait()
                if qp is None:
                    pop = asyncio.ensure_future(self.queue.pop())
                    waits = {pop} | ({stopper} if stopper is not None else set())
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    if not pop.done():
                        pop.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await pop
                        break
                    qp = pop.result()
                    if qp is None:
                        break
                self.schedule_one(qp.info)
                # Let informer events and bindings run between decisions.
                await asyncio.sleep(0)
        finally:
            self.queue.close()
            if stopper is not None:
                stopper.cancel()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def schedule_one(self, info: PodInfo) -> None:
        """Decide for one pod; on success assume it and start binding, else report why."""
        live = self.pod_informer.store.get(info.key)
        if live is None or (live.get("metadata") or {}).get("uid") != info.uid or (live.get("spec") or {}).get("nodeName"):
            self.queue.delete(info.key)
            return
        t0 = time.perf_counter()
        node, statuses = self.decide(info)
        self.decision_seconds += time.perf_counter() - t0
        self.decisions += 1
        if node is None:
            self.failed += 1
            self.queue.requeue_unschedulable(info.key)
            n = len(self.nodes)
            policy = (live.get("spec") or {}).get("preemptionPolicy") or "PreemptLowerPriority"
            msg = fit_error_message(n, statuses.values(), policy) if n else NO_NODES
            self._spawn(self._report_unschedulable(live, msg))
            return
        self.queue.done(info.key)
        self._assumed[info.uid] = node
        self._account(info, node)
        self._spawn(self._bind(info, node))

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _bind(self, info: PodInfo, node: str) -> None:
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": info.name, "namespace": info.namespace, "uid": info.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            async with self._bind_sem:
                await self.client.create(PODS, body, info.namespace, subresource="binding", name=info.name)
        except (StatusError, *TRANSPORT_ERRORS) as e:
            if self._assumed.pop(info.uid, None) is not None:
                self._unaccount(info.uid)  # forget: the node did not get it
            code = getattr(e, "code", 0)
            log.info("scheduler: binding %s to %s failed: %s", info.key, node, e)
            if code == 404:
                return
            live = self.pod_informer.store.get(info.key)
            if live is not None and not (live.get("spec") or {}).get("nodeName") and code != 409:
                self.queue.add(PodInfo.of(live))
                self.queue.requeue_error(info.key)
            elif live is not None and code == 409 and not (live.get("spec") or {}).get("nodeName"):
                self.queue.add(PodInfo.of(live))
                self.queue.requeue_error(info.key)
            return
        self.scheduled += 1
        self.recorder.event(info.obj, NORMAL, "Scheduled",
                            f"Successfully assigned {info.namespace}/{info.name} to {node}")

    async def _report_unschedulable(self, pod: Obj, message: str) -> None:
        self.recorder.event(pod, WARNING, "FailedScheduling", message)
        cond = next((c for c in (pod.get("status") or {}).get("conditions") or []
                     if c.get("type") == "PodScheduled"), None)
        if cond is not None and cond.get("status") == "False" and cond.get("message") == message:
            return
        body = {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                           "message": message, "lastProbeTime": None,
                                           "lastTransitionTime": _now_rfc3339()}]}}
        meta = pod.get("metadata") or {}
        try:
            await self.client.patch(PODS, meta.get("name", ""), body, namespace=meta.get("namespace"),
                                    patch_type="strategic", subresource="status")
        except (StatusError, *TRANSPORT_ERRORS) as e:
            log.info("scheduler: could not update the status of %s/%s: %s", meta.get("namespace"),
                     meta.get("name"), e)


async def run_scheduler(kubeconfig_path: str, *, stop: asyncio.Event, leader_elect: bool = True,
                        identity: str | None = None) -> None:
    """Run the default scheduler against the cluster of `kubeconfig_path` until `stop` is set
    (`mizzen scheduler`, and `mizzen up`), behind leader election on the Lease
    `kube-system/kube-scheduler` so that several copies can run and only one binds."""
    client = ApiClient.from_kubeconfig(kubeconfig_path, user_agent="mizzen-scheduler")

    async def lead() -> None:
        factory = InformerFactory(client)
        sched = Scheduler(client, factory)
        try:
            await sched.run(stop)
        finally:
            await factory.stop()
            with contextlib.suppress(Exception):
                await sched.recorder.close(timeout=2.0)

    try:
        await run_as_leader(client, LEASE_NAME, LEASE_NAMESPACE, lead, stop=stop, enabled=leader_elect,
                            identity=identity, component="scheduler")
    finally:
        await client.close()
