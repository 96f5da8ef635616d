"""The disruption controller's I/O: informers on PodDisruptionBudgets, pods and the workload
controllers whose scale a budget may need (Deployments, ReplicaSets, StatefulSets,
ReplicationControllers) feed PDB keys to a work queue; `reconcile` computes the status
(decisions.py) and writes it through pdbs/status when it changed.

It never writes a cached object (it copies) and never writes without the resourceVersion
it read, so a concurrent eviction (which decrements disruptionsAllowed) wins and the next
pass recomputes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from apimachinery.client import InformerFactory
from apimachinery.client.events import NORMAL, WARNING
from apimachinery.client.informer import copy_object
from apimachinery.client.rest import ApiClient
from apimachinery.client.workqueue import Result
from apimachinery.selectors import LabelSelector
from controllers import podutil
from controllers.base import DEPLOYMENTS, PODS, REPLICASETS, Controller, ControllerContext, res
from controllers.disruption import decisions as D
from controllers.podutil import Obj

log = logging.getLogger(__name__)

PDBS = res("poddisruptionbudgets", "policy")
STATEFULSETS = res("statefulsets", "apps")
REPLICATIONCONTROLLERS = res("replicationcontrollers")


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, ctx: ControllerContext, *, clock: Any = time.time):
        super().__init__(ctx)
        self.clock = clock
        self.pdbs = ctx.informer(PDBS)
        self.pods = ctx.informer(PODS)
        self.rs = ctx.informer(REPLICASETS)
        self.deploys = ctx.informer(DEPLOYMENTS)
        self.sts = ctx.informer(STATEFULSETS)
        self.rcs = ctx.informer(REPLICATIONCONTROLLERS)
        self.recorder = ctx.recorder("controllermanager")
        self.pdbs.add_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new), on_delete=None)
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new, old),
                              on_delete=self._pod_changed)
        for inf in (self.rs, self.deploys, self.sts, self.rcs):
            inf.add_handler(on_add=self._namespace_changed,
                            on_update=lambda old, new: self._scale_changed(old, new),
                            on_delete=self._namespace_changed)

    def _pod_changed(self, pod: Obj, old: Obj | None = None) -> None:
        ns = podutil.namespace_of(pod)
        labels = [podutil.labels_of(pod)] + ([podutil.labels_of(old)] if old is not None else [])
        for pdb in self.pdbs.store.by_index("namespace", ns):
            sel = (pdb.get("spec") or {}).get("selector")
            if sel is not None and any(LabelSelector.from_dict(sel).matches(lb) for lb in labels):
                self.enqueue(pdb)

    def _namespace_changed(self, obj: Obj) -> None:
        for pdb in self.pdbs.store.by_index("namespace", podutil.namespace_of(obj)):
            self.enqueue(pdb)

    def _scale_changed(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}).get("replicas") != (new.get("spec") or {}).get("replicas"):
            self._namespace_changed(new)

    def scale_of(self, pod: Obj) -> tuple[str, int] | None:
        """(uid, spec.replicas) of the workload that finally controls `pod`."""
        ref = podutil.controller_ref(pod)
        if ref is None:
            return None
        ns = podutil.namespace_of(pod)
        kind = ref.get("kind")
        informer = {"ReplicaSet": self.rs, "StatefulSet": self.sts, "ReplicationController": self.rcs}.get(kind or "")
        if informer is None:
            return None
        owner = informer.store.get(f"{ns}/{ref.get('name')}")
        if owner is None or podutil.uid_of(owner) != ref.get("uid"):
            return None
        if kind == "ReplicaSet":
            dref = podutil.controller_ref(owner)
            if dref is not None and dref.get("kind") == "Deployment":
                d = self.deploys.store.get(f"{ns}/{dref.get('name')}")
                if d is not None and podutil.uid_of(d) == dref.get("uid"):
                    return podutil.uid_of(d), int((d.get("spec") or {}).get("replicas", 1))
        return podutil.uid_of(owner), int((owner.get("spec") or {}).get("replicas", 1))

    async def reconcile(self, key: Any) -> Result | None:
        pdb = self.pdbs.store.get(str(key))
        if pdb is None or podutil.is_deleting(pdb):
            return None
        spec = pdb.get("spec") or {}
        ns = podutil.namespace_of(pdb)
        sel = spec.get("selector")
        selector = LabelSelector.from_dict(sel) if sel is not None else LabelSelector.nothing()
        pods = [p for p in self.pods.store.by_index("namespace", ns) if selector.matches(podutil.labels_of(p))]
        if not pods:
            self.recorder.event(pdb, NORMAL, "NoPods", "No matching pods found")
        old = pdb.get("status") or {}
        now = self.clock()
        generation = int(podutil.meta(pdb).get("generation") or 0)
        at = D.now_str(now)
        result: Result | None = None
        try:
            computed = D.compute(spec, old, pods, self.scale_of, now)
            status = D.new_status(old, computed, generation, at)
            if computed.recheck_at is not None:
                result = Result(requeue_after=max(0.1, computed.recheck_at - now))
        except D.NoControllers as e:
            self.recorder.event(pdb, WARNING, "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {e}")
            status = D.failsafe_status(old, str(e), generation, at)
        if _same(old, status):
            return result
        upd = copy_object(pdb)
        upd["status"] = status
        await self.client.update_status(PDBS, upd)
        return result


def _same(old: Obj, new: Obj) -> bool:
    def strip(s: Obj) -> Obj:
        return {**s, "conditions": [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                                    for c in s.get("conditions") or []]}
    return strip(old) == strip(new)


async def run_disruption_controller(kubeconfig_path: str, *, stop: asyncio.Event, workers: int = 2) -> None:
    """Run the disruption controller alone until `stop` is set (no leader election: inside
    `mizzen up`, prefer registering `DisruptionController` in the controller manager)."""
    client = ApiClient.from_kubeconfig(kubeconfig_path, user_agent="mizzen-disruption-controller")
    factory = InformerFactory(client)
    ctx = ControllerContext(client, factory)
    c = DisruptionController(ctx)
    factory.start()
    run = asyncio.ensure_future(_run_synced(factory, c, workers))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({run, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        c.queue.shutdown()
        for t in (run, stopper):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await factory.stop()
        for rec in ctx.recorders.values():
            with contextlib.suppress(Exception):
                await rec.close(timeout=2.0)
        await client.close()


async def _run_synced(factory: InformerFactory, c: Controller, workers: int) -> None:
    await factory.wait_synced()
    await c.run(workers)
