"""Controllers under load, with simulated nodes: how many pods per second the ReplicaSet
controller creates (the issue's goal: >= 500/s sustained), how fast a 1,000-replica
Deployment goes from apply to all pods Ready, how long a full rolling update of it takes,
and a DaemonSet across 1,000 nodes.

The API server runs as `mizzen apiserver` in a subprocess; the controller manager, the
simulated nodes and a stand-in binder (not a scheduler: mizzen.testing.stand_in_binder) run
in this process, each with its own API client as separate processes would have. Phases:

1. the ReplicaSet controller alone: a 1,000-replica Deployment with no binder and no kubelet
   running (its pods stay Pending), so that the creates/s measured are the controller's and
   the API server's, not shared with binding and status writes; the ratio to 500/s is
   printed. Then it is deleted.
2. the simulated nodes and the binder start; a 1,000-replica Deployment from apply to all
   pods Ready (creates/s again, now sharing the machine with binds and status writes);
3. a full rolling update of it (25% surge, 25% unavailable);
4. 1,000 more simulated nodes and a DaemonSet across all of them, until all Ready.

Creates are timed by a watch on the pods (when the API server reports each one added).
Prints one line per figure and a final machine-readable `BENCH controllers {...}` line.

With `--up`, the whole of `mizzen up --nodes N --runtime simulated` (controllers, scheduler,
simulated kubelet in one process) is measured from outside instead (no phase 1 there).

Usage: python bench/controllers.py [--replicas 1000] [--nodes 20] [--ds-nodes 1000] [--up]"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apimachinery.client import Informer  # noqa: E402
from apimachinery.client.rest import ApiClient  # noqa: E402
from controllers.manager import ControllerManager  # noqa: E402
from kubelet.simulated import SimulatedNodes  # noqa: E402
from mizzen.testing import Cluster, process_cpu_seconds, stand_in_binder  # noqa: E402


def deployment(replicas: int, image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "big"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": "big"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def wait_until(fn: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await fn():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        await asyncio.sleep(0.05)


GOAL_CREATES_PER_S = 500.0


class Timeline:
    """When an informer first saw each pod of a Deployment (label app=<name>): the pace of
    the ReplicaSet controller's creates as the API server's watch reports them."""

    def __init__(self, client: ApiClient, app: str):
        self.inf = Informer(client, "pods", "default", label_selector=f"app={app}")
        self.added: list[float] = []
        self.inf.add_handler(on_add=lambda p: self.added.append(time.monotonic()))

    async def start(self) -> None:
        self.inf.start()
        await self.inf.wait_synced()

    def rate(self, n: int) -> float:
        """Pods per second from the first to the n-th pod seen (n-1 intervals)."""
        return (n - 1) / max(1e-6, self.added[n - 1] - self.added[0])


async def replicaset_alone(kubeconfig: str, replicas: int, server_pid: int) -> dict[str, float]:
    """The figure of the issue: pod creates/s sustained by the ReplicaSet controller during a
    `replicas` scale-up, with nothing but the controller manager and the API server running
    (no binder, no kubelet: the pods stay Pending), then the Deployment is deleted."""
    out: dict[str, float] = {}
    client = ApiClient.from_kubeconfig(kubeconfig, user_agent="bench-observer")
    tl = Timeline(client, "burst")
    await tl.start()
    body = deployment(replicas, "app:1")
    body["metadata"]["name"] = "burst"
    body["spec"]["selector"]["matchLabels"]["app"] = body["spec"]["template"]["metadata"]["labels"]["app"] = "burst"
    # The API server's first create of a kind loads that kind's schema: not a per-pod cost.
    template = body["spec"]["template"]
    for plural, obj in (("deployments", body), ("replicasets", {**body, "kind": "ReplicaSet"}),
                        ("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "warm-up"},
                                  "spec": template["spec"]})):
        await client.create(plural, obj, "default", dry_run=True)
    t0 = time.monotonic()
    server_cpu, own_cpu = process_cpu_seconds(server_pid), time.process_time()
    await client.create("deployments", body, "default")

    async def all_created() -> bool:
        return len(tl.added) >= replicas
    await wait_until(all_created, 600)
    out["rs_alone_creates_per_s"] = tl.rate(replicas)
    out["rs_alone_all_created_s"] = tl.added[replicas - 1] - t0
    out["server_cpu_ms_per_create"] = (process_cpu_seconds(server_pid) - server_cpu) * 1000 / replicas
    out["controller_process_cpu_ms_per_create"] = (time.process_time() - own_cpu) * 1000 / replicas
    ratio = out["rs_alone_creates_per_s"] / GOAL_CREATES_PER_S
    print(f"replicaset controller alone (no binder, no kubelet): {replicas} pods created "
          f"{out['rs_alone_all_created_s']:.1f}s after apply, {out['rs_alone_creates_per_s']:.0f} pod creates/s "
          f"sustained = {ratio:.2f}x the {GOAL_CREATES_PER_S:.0f}/s goal; CPU per create: API server "
          f"{out['server_cpu_ms_per_create']:.2f} ms, controller process {out['controller_process_cpu_ms_per_create']:.2f} ms",
          flush=True)
    await client.delete("deployments", "burst", "default", propagation_policy="Background")

    async def all_gone() -> bool:
        return len(tl.inf.store) == 0
    await wait_until(all_gone, 600)
    await tl.inf.stop()
    await client.close()
    return out


async def bench(kubeconfig: str, replicas: int, n_nodes: int, ds_nodes: int, up: bool,
                server_pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    # One client per component, as separate processes would have: a burst of one component's
    # requests then queues for its own connections, not for another's.
    client = ApiClient.from_kubeconfig(kubeconfig, user_agent="bench-observer")
    clients = [client]
    stop = asyncio.Event()
    names = [f"node-{i + 1}" for i in range(n_nodes)]
    tasks: list[asyncio.Future[Any]] = []
    if not up:
        cm_client = ApiClient.from_kubeconfig(kubeconfig, user_agent="mizzen-controller-manager")
        clients.append(cm_client)
        cm = ControllerManager(cm_client, workers=5)
        tasks.append(asyncio.ensure_future(cm.run(stop)))
        await cm.started.wait()
        await asyncio.sleep(1.0)  # the controllers' start-up writes (service accounts, CA ConfigMaps) settle
        out.update(await replicaset_alone(kubeconfig, replicas, server_pid))
        node_client = ApiClient.from_kubeconfig(kubeconfig, user_agent="mizzen-simulated-kubelet")
        binder_client = ApiClient.from_kubeconfig(kubeconfig, user_agent="bench-stand-in-binder")
        clients += [node_client, binder_client]
        nodes = SimulatedNodes(node_client, names)
        tasks += [asyncio.ensure_future(nodes.run(stop)),
                  asyncio.ensure_future(stand_in_binder(binder_client, names, stop))]
        await nodes.registered.wait()

    tl = Timeline(client, "big")
    await tl.start()

    async def status() -> dict[str, Any]:
        return (await client.get("deployments", "big", "default")).get("status") or {}

    t0 = time.monotonic()
    await client.create("deployments", deployment(replicas, "app:1"), "default")

    async def all_ready() -> bool:
        s = await status()
        return s.get("readyReplicas") == replicas and s.get("updatedReplicas") == replicas
    await wait_until(all_ready, 600)
    out["apply_to_all_ready_s"] = time.monotonic() - t0
    out["pods_created_s"] = tl.added[replicas - 1] - t0
    out["pod_creates_per_s"] = tl.rate(replicas)
    print(f"{replicas}-replica Deployment, {'scheduler' if up else 'stand-in binder'} and simulated kubelet running: "
          f"apply -> all Ready {out['apply_to_all_ready_s']:.1f}s; pods created in {out['pods_created_s']:.1f}s "
          f"({out['pod_creates_per_s']:.0f} pods/s = {out['pod_creates_per_s'] / GOAL_CREATES_PER_S:.2f}x "
          f"the {GOAL_CREATES_PER_S:.0f}/s goal)", flush=True)

    tl.added.clear()
    t1 = time.monotonic()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "app:2"}]}}}}
    await client.patch("deployments", "big", patch, namespace="default", patch_type="strategic")

    async def rolled() -> bool:
        d = await client.get("deployments", "big", "default")
        s = d.get("status") or {}
        return (s.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
                and s.get("updatedReplicas") == replicas and s.get("replicas") == replicas
                and s.get("availableReplicas") == replicas)
    await wait_until(rolled, 900)
    out["rolling_update_s"] = time.monotonic() - t1
    if tl.added:
        out["rolling_update_pod_creates_per_s"] = len(tl.added) / max(1e-6, tl.added[-1] - t1)
    print(f"full rolling update (25%/25%): {out['rolling_update_s']:.1f}s "
          f"({out.get('rolling_update_pod_creates_per_s', 0):.0f} new pods/s)", flush=True)
    await client.delete("deployments", "big", "default")
    await tl.inf.stop()

    if ds_nodes:
        if not up:
            more = [f"ds-node-{i + 1}" for i in range(ds_nodes)]
            t2 = time.monotonic()
            ds_sim = SimulatedNodes(node_client, more, start_index=n_nodes)
            tasks.append(asyncio.ensure_future(ds_sim.run(stop)))
            await ds_sim.registered.wait()
            out["register_nodes_s"] = time.monotonic() - t2
            print(f"{ds_nodes} simulated nodes registered in {out['register_nodes_s']:.1f}s", flush=True)
        t3 = time.monotonic()
        await client.create("daemonsets", {
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}}}, "default")
        want = ds_nodes + n_nodes

        async def ds_ready() -> bool:
            s = (await client.get("daemonsets", "agent", "default")).get("status") or {}
            return s.get("desiredNumberScheduled") == want and s.get("numberReady") == want
        await wait_until(ds_ready, 900)
        out["daemonset_all_ready_s"] = time.monotonic() - t3
        print(f"DaemonSet across {want} nodes: all Ready in {out['daemonset_all_ready_s']:.1f}s", flush=True)

    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in clients:
        await c.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--ds-nodes", type=int, default=1000)
    ap.add_argument("--up", action="store_true",
                    help="measure a whole `mizzen up --runtime simulated` (its scheduler, not the stand-in binder)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log requeues (409s)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.verbose:
        logging.getLogger("controllers.base").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="mizzen-bench-") as tmp:
        extra = ("--nodes", str(args.nodes + args.ds_nodes), "--runtime", "simulated") if args.up else ()
        with Cluster.start(Path(tmp), *extra, command="up" if args.up else "apiserver", timeout=300) as c:
            result = asyncio.run(bench(str(c.kubeconfig), args.replicas, args.nodes, args.ds_nodes, args.up,
                                       c.proc.pid))
    result = {k: round(v, 2) for k, v in result.items()}
    rate = result.get("rs_alone_creates_per_s", result["pod_creates_per_s"])
    result["goal_ratio"] = round(rate / GOAL_CREATES_PER_S, 2)
    print("BENCH controllers " + json.dumps({"mode": "up" if args.up else "in-process", "replicas": args.replicas,
                                             "nodes": args.nodes, "ds_nodes": args.ds_nodes, **result}), flush=True)


if __name__ == "__main__":
    main()
