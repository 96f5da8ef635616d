"""Benchmark of the scheduler end to end through the API: pods bound per second with 1,000
and 5,000 nodes, and the time one decision takes.

A real `mizzen apiserver` runs in a subprocess. Nodes are registered directly through the
API (a Node and its status with allocatable; no simulated kubelets, which would only add
heartbeat load). A backlog of pending pods is created first; then the scheduler starts, and
the figure is pods bound per second from its first decision to the last binding answered
by the API server (every binding is a `POST pods/<name>/binding`, durable before it is
acknowledged), checked afterwards by listing the pods.

Run: `.venv/bin/python -m bench.scheduler [--nodes 1000,5000] [--pods 3000]`.
Prints one line per figure and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from apimachinery.client.rest import ApiClient
from apimachinery.errors import StatusError
from controllers.base import NODES, PODS
from controllers.scheduler import Scheduler
from mizzen.testing import Cluster

GOAL_PODS_PER_S_1000 = 500


def node(name: str, zone: int) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "topology.kubernetes.io/zone": f"zone-{zone}"}}}


STATUS = {"capacity": {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"},
          "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"},
          "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                          "message": "kubelet is posting ready status"}]}


def pod(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"bench-{i}", "namespace": "default", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


async def gather_limited(coros: list, limit: int) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(c) -> None:  # type: ignore[no-untyped-def]
        async with sem:
            await c
    await asyncio.gather(*(one(c) for c in coros))


async def register(client: ApiClient, n: int) -> None:
    async def one(i: int) -> None:
        name = f"bench-node-{i}"
        try:
            obj = await client.create(NODES, node(name, i % 3))
        except StatusError as e:
            if e.code != 409:
                raise
            obj = await client.get(NODES, name)
        obj["status"] = STATUS
        await client.update_status(NODES, obj)
    await gather_limited([one(i) for i in range(n)], 64)


async def run_size(kubeconfig: str, nodes: int, pods: int) -> dict:
    client = ApiClient.from_kubeconfig(kubeconfig, user_agent="bench-scheduler")
    try:
        t0 = time.perf_counter()
        await register(client, nodes)
        t_nodes = time.perf_counter() - t0
        t0 = time.perf_counter()
        await gather_limited([client.create(PODS, pod(i), "default") for i in range(pods)], 64)
        t_pods = time.perf_counter() - t0
        sched = Scheduler(client)
        stop = asyncio.Event()
        sched.factory.start()
        await sched.factory.wait_synced()
        task = asyncio.create_task(sched.run(stop))
        t0 = time.perf_counter()
        while sched.scheduled < pods and not task.done():
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        stop.set()
        await task
        await sched.factory.stop()
        await sched.recorder.close(timeout=10)
        listed = await client.list_all(PODS, "default")
        bound = sum(1 for p in listed["items"] if p["spec"].get("nodeName"))
        per_node: dict[str, int] = {}
        for p in listed["items"]:
            per_node[p["spec"].get("nodeName", "")] = per_node.get(p["spec"].get("nodeName", ""), 0) + 1
        return {"nodes": nodes, "pods": pods, "bound": bound, "seconds": round(elapsed, 3),
                "pods_per_s": round(pods / elapsed, 1),
                "decision_ms": round(1000 * sched.decision_seconds / max(1, sched.decisions), 3),
                "max_pods_on_a_node": max(per_node.values()), "register_nodes_s": round(t_nodes, 2),
                "create_pods_s": round(t_pods, 2)}
    finally:
        await client.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", default="1000,5000")
    ap.add_argument("--pods", type=int, default=3000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results = []
    for n in (int(x) for x in args.nodes.split(",")):
        with tempfile.TemporaryDirectory(prefix="mizzen-bench-sched-") as tmp, \
                Cluster.start(Path(tmp), command="apiserver", timeout=120) as c:
            r = asyncio.run(run_size(str(c.kubeconfig), n, args.pods))
        results.append(r)
        goal = f" (goal >= {GOAL_PODS_PER_S_1000})" if n == 1000 else ""
        print(f"scheduler.nodes_{n}.pods_per_s {r['pods_per_s']}{goal}  bound {r['bound']}/{r['pods']} "
              f"in {r['seconds']} s; decision {r['decision_ms']} ms; max pods on a node {r['max_pods_on_a_node']}")
    print(json.dumps({"bench": "scheduler", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
