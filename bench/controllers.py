"""Controllers under load, with simulated nodes: how fast a 1,000-replica Deployment goes
from `kubectl apply` to all pods Ready, how long a full rolling update of it takes, how many
pods per second the ReplicaSet controller creates, and a DaemonSet across many nodes.

The API server runs as `mizzen apiserver` in a subprocess; the controller manager, the
simulated nodes and a stand-in binder (not a scheduler: it binds pending pods round-robin,
DaemonSet pods to their node) run in this process. Prints one line per figure and a final
machine-readable `BENCH controllers {...}` line.

With `--up`, the whole of `mizzen up --nodes N --runtime simulated` (controllers, scheduler,
simulated kubelet in one process) is measured from outside instead.

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
from apimachinery.errors import StatusError  # noqa: E402
from controllers.manager import ControllerManager  # noqa: E402
from kubelet.simulated import PODS, SimulatedNodes  # noqa: E402
from mizzen.testing import Cluster  # noqa: E402


async def stand_in_binder(client: ApiClient, nodes: list[str], stop: asyncio.Event) -> None:
    inf = Informer(client, PODS)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inf.add_handler(on_add=queue.put_nowait, on_update=lambda o, n: queue.put_nowait(n))
    inf.start()
    turn = 0
    sem = asyncio.Semaphore(200)

    async def bind(pod: dict[str, Any]) -> None:
        nonlocal turn
        if (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return
        target = None
        req = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
               .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        for term in req.get("nodeSelectorTerms") or []:
            for f in term.get("matchFields") or []:
                target = f["values"][0]
        if target is None:
            target = nodes[turn % len(nodes)]
            turn += 1
        async with sem:
            try:
                await client.create(PODS, {"apiVersion": "v1", "kind": "Binding",
                                           "metadata": {"name": pod["metadata"]["name"]},
                                           "target": {"apiVersion": "v1", "kind": "Node", "name": target}},
                                    pod["metadata"]["namespace"], subresource="binding")
            except StatusError:
                pass

    async def loop() -> None:
        while True:
            asyncio.ensure_future(bind(await queue.get()))
    task = asyncio.ensure_future(loop())
    await stop.wait()
    task.cancel()
    await inf.stop()


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


async def bench(kubeconfig: str, replicas: int, n_nodes: int, ds_nodes: int, up: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    client = ApiClient.from_kubeconfig(kubeconfig)
    stop = asyncio.Event()
    names = [f"node-{i + 1}" for i in range(n_nodes)]
    tasks: list[asyncio.Future[Any]] = []
    if not up:
        nodes = SimulatedNodes(client, names)
        cm = ControllerManager(client, workers=5)
        tasks = [asyncio.ensure_future(nodes.run(stop)), asyncio.ensure_future(cm.run(stop)),
                 asyncio.ensure_future(stand_in_binder(client, names, stop))]
        await nodes.registered.wait()
        await cm.started.wait()

    # Pod creation timeline seen by an informer: first and last pod ADDED.
    pod_inf = Informer(client, "pods", "default", label_selector="app=big")
    created: list[float] = []
    pod_inf.add_handler(on_add=lambda p: created.append(time.monotonic()))
    pod_inf.start()
    await pod_inf.wait_synced()

    async def status() -> dict[str, Any]:
        return (await client.get("deployments", "big", "default")).get("status") or {}

    t0 = time.monotonic()
    await client.create("deployments", deployment(replicas, "app:1"), "default")

    async def all_ready() -> bool:
        s = await status()
        return s.get("readyReplicas") == replicas and s.get("updatedReplicas") == replicas
    await wait_until(all_ready, 600)
    out["apply_to_all_ready_s"] = time.monotonic() - t0
    first, last = created[0], created[replicas - 1]
    out["pods_created_s"] = last - t0
    out["pod_creates_per_s"] = (replicas - 1) / max(1e-6, last - first)
    print(f"{replicas}-replica Deployment: apply -> all Ready {out['apply_to_all_ready_s']:.1f}s; "
          f"pods created in {out['pods_created_s']:.1f}s ({out['pod_creates_per_s']:.0f} pods/s)", flush=True)

    created.clear()
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
    if created:
        out["rolling_update_pod_creates_per_s"] = len(created) / max(1e-6, created[-1] - t1)
    print(f"full rolling update (25%/25%): {out['rolling_update_s']:.1f}s "
          f"({out.get('rolling_update_pod_creates_per_s', 0):.0f} new pods/s)", flush=True)
    await client.delete("deployments", "big", "default")
    await pod_inf.stop()

    if ds_nodes:
        if not up:
            more = [f"ds-node-{i + 1}" for i in range(ds_nodes)]
            t2 = time.monotonic()
            ds_sim = SimulatedNodes(client, more, start_index=n_nodes)
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
    await client.close()
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
            result = asyncio.run(bench(str(c.kubeconfig), args.replicas, args.nodes, args.ds_nodes, args.up))
    result = {k: round(v, 2) for k, v in result.items()}
    print("BENCH controllers " + json.dumps({"mode": "up" if args.up else "in-process", "replicas": args.replicas,
                                             "nodes": args.nodes, "ds_nodes": args.ds_nodes, **result}), flush=True)


if __name__ == "__main__":
    main()
