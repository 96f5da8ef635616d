"""The node lifecycle controller's I/O: informers on Nodes, node Leases (kube-node-lease)
and pods; a monitor pass every `node_monitor_period` that marks silent nodes Unknown,
keeps the condition taints in step, and taints NotReady/Unreachable nodes NoExecute through
per-zone rate limiters; and a taint manager (the work queue, keyed by pod) that deletes pods
that do not tolerate their node's NoExecute taints, at once or after tolerationSeconds.

    await run_node_lifecycle(kubeconfig, stop=stop, node_monitor_grace_period=3)

Heartbeats are timed with this controller's own clock (when it *saw* a Lease renewal or a
new Ready heartbeat), never by comparing the node's timestamps with ours, so clock skew
between machines cannot make nodes look dead; a fresh controller gives every node a full
grace period. It must never evict when every zone is fully disrupted (see decisions.py),
never write a cached object (it copies) and never write a node without its
resourceVersion."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from apimachinery.client import INDEX_NODE_NAME, InformerFactory
from apimachinery.client.events import NORMAL
from apimachinery.client.informer import copy_object
from apimachinery.client.leader import run_as_leader
from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient
from apimachinery.client.workqueue import Result
from apimachinery.errors import NotFound, StatusError
from controllers import podutil
from controllers.base import NODES, PODS, Controller, ControllerContext, res
from controllers.nodelifecycle import decisions as D
from controllers.podutil import Obj

log = logging.getLogger(__name__)

LEASES = res("leases", "coordination.k8s.io")
NODE_LEASE_NAMESPACE = "kube-node-lease"


def _now_str() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _heartbeat(node: Obj) -> str | None:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("lastHeartbeatTime")
    return None


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, ctx: ControllerContext, *, node_monitor_grace_period: float = 40.0,
                 node_monitor_period: float | None = None, node_startup_grace_period: float = 60.0,
                 eviction_rate: float = 0.1, secondary_eviction_rate: float = 0.01,
                 large_cluster_threshold: int = 50, unhealthy_zone_threshold: float = 0.55,
                 clock: Any = time.monotonic):
        super().__init__(ctx)
        self.grace = node_monitor_grace_period
        self.period = node_monitor_period or min(5.0, max(0.2, node_monitor_grace_period / 4))
        self.startup_grace = max(node_startup_grace_period, node_monitor_grace_period)
        self.rate, self.secondary_rate = eviction_rate, secondary_eviction_rate
        self.large_cluster_threshold = large_cluster_threshold
        self.unhealthy_threshold = unhealthy_zone_threshold
        self.clock = clock
        self.node_informer = ctx.informer(NODES)
        self.pod_informer = ctx.informer(PODS)
        self.lease_informer = ctx.factory.informer(LEASES, NODE_LEASE_NAMESPACE)
        self.recorder = ctx.recorder("node-controller")
        self.taint_recorder = ctx.recorder("taint-eviction-controller")
        self.probe: dict[str, float] = {}  # node -> when we last saw it heartbeat
        self.first_seen: dict[str, float] = {}
        self.zone_states: dict[str, str] = {}
        self.buckets: dict[str, D.TokenBucket] = {}
        self.pending_noexecute: dict[str, dict[str, None]] = {}  # zone -> ordered node names
        self.disrupted_mode = False
        self.taints_observed: dict[str, float] = {}  # pod key -> when taints were first seen
        self.evicted = 0
        self.node_informer.add_handler(on_add=self._node_added, on_update=self._node_updated,
                                       on_delete=self._node_deleted)
        self.lease_informer.add_handler(on_add=self._lease_changed,
                                        on_update=lambda old, new: self._lease_changed(new, old))
        self.pod_informer.add_handler(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new),
                                      on_delete=self._pod_gone)

    # -- handlers ------------------------------------------------------------------------------

    def _node_added(self, node: Obj) -> None:
        name = podutil.name_of(node)
        now = self.clock()
        self.probe.setdefault(name, now)
        self.first_seen.setdefault(name, now)
        self._enqueue_pods_of(name)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        name = podutil.name_of(new)
        if _heartbeat(new) != _heartbeat(old) or D.ready_status(new) != D.ready_status(old):
            if D.ready_status(new) != "Unknown":
                self.probe[name] = self.clock()
        if (old.get("spec") or {}).get("taints") != (new.get("spec") or {}).get("taints"):
            self._enqueue_pods_of(name)

    def _node_deleted(self, node: Obj) -> None:
        name = podutil.name_of(node)
        self.probe.pop(name, None)
        self.first_seen.pop(name, None)
        for q in self.pending_noexecute.values():
            q.pop(name, None)

    def _lease_changed(self, lease: Obj, old: Obj | None = None) -> None:
        spec = lease.get("spec") or {}
        if old is None or (old.get("spec") or {}).get("renewTime") != spec.get("renewTime"):
            self.probe[podutil.name_of(lease)] = self.clock()

    def _enqueue_pods_of(self, node: str) -> None:
        for key in self.pod_informer.store.index_keys(INDEX_NODE_NAME, node):
            self.queue.add(key)

    def _pod_changed(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.queue.add(podutil.key_of(pod))

    def _pod_gone(self, pod: Obj) -> None:
        self.taints_observed.pop(podutil.key_of(pod), None)

    # -- the taint manager (work queue of pods) ---------------------------------------------------

    async def reconcile(self, key: Any) -> Result | None:
        pod = self.pod_informer.store.get(str(key))
        if pod is None or podutil.is_deleting(pod):
            self.taints_observed.pop(str(key), None)
            return None
        node = self.node_informer.store.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None:
            return None
        taints = [t for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == "NoExecute"]
        if not taints:
            self.taints_observed.pop(str(key), None)
            return None
        delay = D.eviction_delay((pod.get("spec") or {}).get("tolerations") or [], taints)
        if delay is None:
            return None
        observed = self.taints_observed.setdefault(str(key), time.time())
        due = D.taints_since(taints, observed) + delay
        wait = due - time.time()
        if wait > 0:
            return Result(requeue_after=wait)
        ns, name = podutil.namespace_of(pod), podutil.name_of(pod)
        self.taint_recorder.event(pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}")
        cond = podutil.pod_condition(pod, "DisruptionTarget")
        if cond is None or cond.get("status") != "True":
            body = {"status": {"conditions": [{"type": "DisruptionTarget", "status": "True",
                                               "reason": "DeletionByTaintManager",
                                               "message": "Taint manager: deleting due to NoExecute taint",
                                               "lastTransitionTime": _now_str()}]}}
            try:
                await self.client.patch(PODS, name, body, namespace=ns, patch_type="strategic", subresource="status")
            except NotFound:
                return None
        try:
            await self.client.delete(PODS, name, ns, preconditions={"uid": podutil.uid_of(pod)})
        except NotFound:
            return None
        self.evicted += 1
        log.info("taint manager: evicted %s/%s from %s", ns, name, podutil.name_of(node))
        return None

    # -- the monitor pass ----------------------------------------------------------------------

    async def run(self, workers: int) -> None:
        monitor = asyncio.create_task(self._monitor_loop(), name="nodelifecycle-monitor")
        try:
            await super().run(workers)
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor_once()
            except asyncio.CancelledError:
                raise
            except (StatusError, *TRANSPORT_ERRORS) as e:
                log.warning("node lifecycle: monitor pass failed: %s", e)
            await asyncio.sleep(self.period)

    async def monitor_once(self) -> None:
        now = self.clock()
        at = _now_str()
        nodes = {podutil.name_of(n): n for n in self.node_informer.store.list()}
        # 1. Silent nodes -> Unknown.
        for name, node in nodes.items():
            probe = self.probe.setdefault(name, now)
            grace = self.grace if D.ready_status(node) is not None else self.startup_grace
            if not D.is_stale(probe, now, grace):
                continue
            conds = D.unknown_conditions(node, at)
            if conds is None:
                continue
            upd = copy_object(node)
            upd.setdefault("status", {})["conditions"] = conds
            try:
                nodes[name] = await self.client.update_status(NODES, upd)
            except StatusError as e:
                if e.code in (404, 409):
                    continue
                raise
            log.info("node lifecycle: node %s stopped posting status; marked Unknown", name)
            self.recorder.event(node, NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
            await self._mark_pods_not_ready(name, at)
        # 2. Zone states.
        zones: dict[str, list[str | None]] = {}
        for node in nodes.values():
            zones.setdefault(D.zone_key(node), []).append(D.ready_status(node))
        self.zone_states = {z: D.compute_zone_state(r, self.unhealthy_threshold)[1] for z, r in zones.items()}
        disrupted = D.all_zones_disrupted(self.zone_states)
        if disrupted and not self.disrupted_mode:
            log.warning("node lifecycle: no node is ready in any zone; assuming a control-plane failure and "
                        "stopping every eviction")
        elif self.disrupted_mode and not disrupted:
            log.warning("node lifecycle: some nodes are ready again; resuming evictions after a full grace period")
            for name in nodes:
                self.probe[name] = now  # every node gets a fresh grace period
        self.disrupted_mode = disrupted
        # 3. Taints.
        for name, node in nodes.items():
            zone = D.zone_key(node)
            want_ne = D.noexecute_taint_key(node)
            queue = self.pending_noexecute.setdefault(zone, {})
            noexecute: str | None | bool = False  # leave as is
            if disrupted or want_ne is None:
                noexecute = None  # remove (markNodeAsReachable)
                queue.pop(name, None)
            elif D.has_noexecute(node, D.NOT_READY) or D.has_noexecute(node, D.UNREACHABLE):
                if not D.has_noexecute(node, want_ne):
                    noexecute = want_ne  # swap not-ready <-> unreachable at once
            else:
                queue.setdefault(name, None)  # waits for the zone's rate limiter
            await self._set_taints(node, D.noschedule_taint_keys(node), noexecute, at)
        if disrupted:
            return
        for zone, queue in self.pending_noexecute.items():
            if not queue:
                continue
            bucket = self.buckets.setdefault(zone, D.TokenBucket(self.rate))
            size = len(zones.get(zone, ()))
            bucket.set_rate(D.zone_eviction_rate(self.zone_states.get(zone, D.NORMAL), size, self.rate,
                                                 self.secondary_rate, self.large_cluster_threshold), now)
            for name in list(queue):
                current = self.node_informer.store.get(name)
                want = D.noexecute_taint_key(current) if current is not None else None
                if current is None or want is None:
                    queue.pop(name, None)
                    continue
                if not bucket.try_take(now):
                    break
                queue.pop(name, None)
                await self._set_taints(current, D.noschedule_taint_keys(current), want, at)

    async def _set_taints(self, node: Obj, noschedule: set[str], noexecute: str | None | bool, at: str) -> None:
        taints = D.taints_with(node, noschedule, noexecute, at)
        if taints is None:
            return
        body = {"metadata": {"resourceVersion": podutil.meta(node).get("resourceVersion")},
                "spec": {"taints": taints or None}}
        try:
            await self.client.patch(NODES, podutil.name_of(node), body)
        except StatusError as e:
            if e.code not in (404, 409):
                raise

    async def _mark_pods_not_ready(self, node: str, at: str) -> None:
        for pod in self.pod_informer.store.by_index(INDEX_NODE_NAME, node):
            status = D.pods_not_ready_status(pod, at)
            if status is None:
                continue
            upd = copy_object(pod)
            upd["status"] = status
            try:
                await self.client.update_status(PODS, upd)
            except StatusError as e:
                if e.code not in (404, 409):
                    log.warning("node lifecycle: could not mark %s not ready: %s", podutil.key_of(pod), e)


async def run_node_lifecycle(kubeconfig_path: str, *, stop: asyncio.Event, node_monitor_grace_period: float = 40.0,
                             eviction_rate: float = 0.1, secondary_eviction_rate: float = 0.01,
                             large_cluster_threshold: int = 50, unhealthy_zone_threshold: float = 0.55,
                             node_monitor_period: float | None = None, leader_elect: bool = True,
                             workers: int = 4) -> None:
    """Run the node lifecycle controller alone (with its own informers) until `stop` is set,
    behind leader election on `kube-system/kube-controller-manager-nodelifecycle`. Inside the
    controller manager, register `NodeLifecycleController` instead (see controllers/manager.py)."""
    client = ApiClient.from_kubeconfig(kubeconfig_path, user_agent="mizzen-node-lifecycle")

    async def lead() -> None:
        factory = InformerFactory(client)
        ctx = ControllerContext(client, factory)
        c = NodeLifecycleController(ctx, node_monitor_grace_period=node_monitor_grace_period,
                                    node_monitor_period=node_monitor_period, eviction_rate=eviction_rate,
                                    secondary_eviction_rate=secondary_eviction_rate,
                                    large_cluster_threshold=large_cluster_threshold,
                                    unhealthy_zone_threshold=unhealthy_zone_threshold)
        factory.start()
        try:
            await factory.wait_synced()
            await c.run(workers)
        finally:
            c.queue.shutdown()
            await factory.stop()
            for rec in ctx.recorders.values():
                with contextlib.suppress(Exception):
                    await rec.close(timeout=2.0)

    try:
        await run_as_leader(client, "kube-controller-manager-nodelifecycle", "kube-system", lead, stop=stop,
                            enabled=leader_elect, component="node lifecycle")
    finally:
        await client.close()
