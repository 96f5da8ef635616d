"""A cluster for the scheduler and node-failure tests: `mizzen apiserver` in a subprocess (as
`mizzen.testing.Cluster` runs it) plus, in this test process on a thread of their own, the
components that `mizzen up` will run: the ReplicaSet, Deployment and garbage collector
controllers, the node lifecycle and disruption controllers, the scheduler, and simulated
nodes. The tests drive it all with the real kubectl, as a user would.

    with scheduler_cluster(tmp_path, nodes=["node-1", "node-2"]) as (c, h):
        c.kubectl("apply", "-f", ...)
        h.add_node("node-3"); h.stop_node("node-1")

Every component is an ordinary API client of the server (nothing here reaches into it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubelet.simulated as simulated
from apimachinery.client import InformerFactory
from apimachinery.client.rest import ApiClient
from controllers.base import ControllerContext
from controllers.deployment.controller import DeploymentController
from controllers.disruption import DisruptionController
from controllers.garbagecollector.controller import GarbageCollector
from controllers.nodelifecycle import NodeLifecycleController
from controllers.replicaset.controller import ReplicaSetController
from controllers.scheduler import Scheduler
from mizzen.testing import Cluster


class Components:
    """The in-process components, on an event loop in a background thread."""

    def __init__(self, kubeconfig: Path, nodes: list[str], capacity: dict[str, str] | None,
                 node_monitor_grace_period: float, eviction_rate: float):
        self.kubeconfig = str(kubeconfig)
        self.node_names = nodes
        self.capacity = capacity
        self.grace = node_monitor_grace_period
        self.eviction_rate = eviction_rate
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="mizzen-components")
        self.sims: list[simulated.SimulatedNodes] = []
        self.stop_event: asyncio.Event | None = None
        self.main: Any = None
        self.started = threading.Event()
        self.error: BaseException | None = None

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.main = asyncio.run_coroutine_threadsafe(self._main(), self.loop)
        if not self.started.wait(30):
            raise RuntimeError("components did not start")
        if self.error is not None:
            raise self.error

    async def _main(self) -> None:
        self.stop_event = asyncio.Event()
        self.client = ApiClient.from_kubeconfig(self.kubeconfig, user_agent="mizzen-test-components")
        tasks: list[asyncio.Task[Any]] = []
        try:
            factory = InformerFactory(self.client)
            ctx = ControllerContext(self.client, factory)
            ctrls = [ReplicaSetController(ctx), DeploymentController(ctx), GarbageCollector(ctx),
                     NodeLifecycleController(ctx, node_monitor_grace_period=self.grace,
                                             eviction_rate=self.eviction_rate),
                     DisruptionController(ctx)]
            self.scheduler = Scheduler(self.client)
            sim = simulated.SimulatedNodes(self.client, self.node_names, capacity=self.capacity)
            self.sims.append(sim)
            tasks.append(asyncio.create_task(sim.run(self.stop_event)))
            await asyncio.wait_for(sim.registered.wait(), 30)
            factory.start()
            await factory.wait_synced(30)
            tasks += [asyncio.create_task(c.run(3)) for c in ctrls]
            tasks.append(asyncio.create_task(self.scheduler.run(self.stop_event)))
            self.ctrls = ctrls
            self.started.set()
            await self.stop_event.wait()
        except BaseException as e:
            self.error = e
            self.started.set()
            raise
        finally:
            for c in getattr(self, "ctrls", []):
                c.queue.shutdown()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await factory.stop()
            with contextlib.suppress(Exception):
                await self.scheduler.factory.stop()
            for rec in [*ctx.recorders.values(), self.scheduler.recorder]:
                with contextlib.suppress(Exception):
                    await rec.close(timeout=2.0)
            await self.client.close()

    def add_node(self, name: str, capacity: dict[str, str] | None = None) -> None:
        async def add() -> None:
            assert self.stop_event is not None
            index = sum(len(s.nodes) for s in self.sims)
            sim = simulated.SimulatedNodes(self.client, [name], capacity=capacity or self.capacity,
                                           start_index=index)
            self.sims.append(sim)
            asyncio.get_running_loop().create_task(sim.run(self.stop_event))
            await asyncio.wait_for(sim.registered.wait(), 30)
        self.call(add())

    def _sim_of(self, name: str) -> simulated.SimulatedNodes:
        return next(s for s in self.sims if name in s.nodes)

    def stop_node(self, name: str) -> None:
        self.call(self._sim_of(name).stop_node(name))

    def start_node(self, name: str) -> None:
        self.call(self._sim_of(name).start_node(name))

    def close(self) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        if self.main is not None:
            with contextlib.suppress(Exception):
                self.main.result(20)

        async def cancel_rest() -> None:
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        with contextlib.suppress(Exception):
            self.call(cancel_rest(), 20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


@contextlib.contextmanager
def scheduler_cluster(tmp: Path, nodes: list[str], *, capacity: dict[str, str] | None = None,
                      node_monitor_grace_period: float = 40.0, eviction_rate: float = 0.1,
                      lease_renew_seconds: float | None = None) -> Iterator[tuple[Cluster, Components]]:
    old_renew = simulated.LEASE_RENEW_SECONDS
    if lease_renew_seconds is not None:
        simulated.LEASE_RENEW_SECONDS = lease_renew_seconds  # heartbeats well inside the grace period
    try:
        with Cluster.start(tmp, command="apiserver") as c:
            h = Components(c.kubeconfig, nodes, capacity, node_monitor_grace_period, eviction_rate)
            h.start()
            try:
                yield c, h
            finally:
                h.close()
    finally:
        simulated.LEASE_RENEW_SECONDS = old_renew


def get_json(c: Cluster, *args: str) -> Any:
    return json.loads(c.kubectl("get", *args, "-o", "json").out)


def pods_by_node(c: Cluster, namespace: str = "default", selector: str | None = None) -> dict[str, str]:
    """pod name -> node name ("" while pending) for the pods not being deleted."""
    args = ["pods", "-n", namespace] + (["-l", selector] if selector else [])
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in get_json(c, *args)["items"]
            if not p["metadata"].get("deletionTimestamp")}
