"""The controller manager: runs the controllers of CONTROLLERS (replicaset, deployment,
daemonset, statefulset, replicationcontroller, garbagecollector, namespace, job, cronjob,
endpoint, endpointslice, serviceaccount, root-ca-cert-publisher) on shared informers, behind leader election on the Lease
`kube-system/kube-controller-manager` so that several copies can run and only one acts.

    await run_controller_manager("/path/kubeconfig", stop=stop_event)

It talks only to the REST API of the cluster its kubeconfig names; it never imports the API
server. Losing leadership stops every controller (their queues are dropped; the next leader
starts from a fresh List, which is why reconcilers must be level-based)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from apimachinery.client import InformerFactory
from apimachinery.client.leader import run_as_leader
from apimachinery.client.rest import ApiClient
from controllers.base import Controller, ControllerContext
from controllers.cronjob.controller import CronJobController
from controllers.daemonset.controller import DaemonSetController
from controllers.deployment.controller import DeploymentController
from controllers.endpoints.controller import EndpointsController
from controllers.endpointslice.controller import EndpointSliceController
from controllers.garbagecollector.controller import GarbageCollector
from controllers.job.controller import JobController
from controllers.namespace.controller import NamespaceController
from controllers.replicaset.controller import ReplicaSetController
from controllers.replicationcontroller.controller import ReplicationControllerController
from controllers.rootcacert.controller import RootCACertPublisher
from controllers.serviceaccount.controller import ServiceAccountController
from controllers.statefulset.controller import StatefulSetController

log = logging.getLogger(__name__)

LEASE_NAME = "kube-controller-manager"
LEASE_NAMESPACE = "kube-system"

CONTROLLERS: dict[str, Callable[[ControllerContext], Controller]] = {
    "replicaset": ReplicaSetController,
    "replicationcontroller": ReplicationControllerController,
    "statefulset": StatefulSetController,
    "deployment": DeploymentController,
    "daemonset": DaemonSetController,
    "garbagecollector": GarbageCollector,
    "namespace": NamespaceController,
    "job": JobController,
    "cronjob": CronJobController,
    "endpoint": EndpointsController,
    "endpointslice": EndpointSliceController,
    "serviceaccount": ServiceAccountController,
    "root-ca-cert-publisher": RootCACertPublisher,
}


class ControllerManager:
    """Run `controllers` (names from CONTROLLERS, default all) with `workers` workers each."""

    def __init__(self, client: ApiClient, *, workers: int = 5, controllers: list[str] | None = None,
                 leader_elect: bool = True, identity: str | None = None):
        self.client = client
        self.workers = workers
        self.names = controllers or list(CONTROLLERS)
        self.leader_elect = leader_elect
        self.identity = identity
        self.controllers: dict[str, Controller] = {}
        self.started = asyncio.Event()  # set once informers synced and workers run

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: campaign for the Lease, and while leader run the controllers."""
        await run_as_leader(self.client, LEASE_NAME, LEASE_NAMESPACE, self._lead, stop=stop,
                            enabled=self.leader_elect, identity=self.identity, component="controller manager")

    async def _lead(self) -> None:
        """Run the controllers for as long as we lead; if they fail, start them afresh (a
        leader that holds the Lease with dead controllers would stall the whole cluster)."""
        while True:
            try:
                await self._run_controllers()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller manager: controllers failed; restarting them in 1s")
                await asyncio.sleep(1.0)

    async def _run_controllers(self) -> None:
        factory = InformerFactory(self.client)
        ctx = ControllerContext(self.client, factory)
        self.controllers = {name: CONTROLLERS[name](ctx) for name in self.names}
        factory.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            await factory.wait_synced()
            log.info("controller manager: caches synced; starting %s", ", ".join(self.controllers))
            for name, c in self.controllers.items():
                n = self.workers * 2 if name == "garbagecollector" else self.workers
                tasks.append(asyncio.create_task(c.run(n), name=f"controller-{name}"))
            self.started.set()
            await asyncio.gather(*tasks)
        finally:
            self.started.clear()
            for c in self.controllers.values():
                c.queue.shutdown()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await factory.stop()
            for rec in ctx.recorders.values():
                with contextlib.suppress(Exception):
                    await rec.close(timeout=2.0)


async def run_controller_manager(kubeconfig_path: str, *, stop: asyncio.Event, workers: int = 5,
                                 controllers: list[str] | None = None, leader_elect: bool = True) -> None:
    """Run the controller manager against the cluster of `kubeconfig_path` until `stop` is set
    (`mizzen controller-manager --kubeconfig F`, and `mizzen up`)."""
    client = ApiClient.from_kubeconfig(kubeconfig_path, user_agent="mizzen-controller-manager")
    try:
        await ControllerManager(client, workers=workers, controllers=controllers,
                                leader_elect=leader_elect).run(stop)
    finally:
        await client.close()


async def run(kubeconfig: str, stop_event: asyncio.Event) -> None:
    await run_controller_manager(kubeconfig, stop=stop_event)
