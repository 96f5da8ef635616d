"""Where a create's CPU goes: the API server's ASGI entry called in-process (no socket, no
TLS, no HTTP parsing), with the real SQLite store, for ConfigMaps and for Pods as a
ReplicaSet creates them.

bench/api_vs_etcd.py measures the whole path over HTTPS; the difference between the two is
what HTTP, TLS and uvicorn cost. Prints CPU microseconds per create (the process's CPU time,
the store's SQLite writer process included), creates/s, and the time the cycle collector took.

Usage: python bench/create_path.py [--n 10000] [--concurrency 64]"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from apimachinery.gctune import tune_for_long_lived_heap
from apiserver.app import APIServer, ServerConfig
from apiserver.storage.sqlite import SQLiteStore
from mizzen.testing import asgi_request, process_cpu_seconds

TOKEN = "bench"


def configmap(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}, "data": {"k": "v" * 100}}


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": f"web-7d4b9c-{i}", "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "u",
                             "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"containers": [{"name": "web", "image": "busybox", "command": ["sleep", "3600"],
                                 "ports": [{"containerPort": 80}], "resources": {"requests": {"cpu": "10m"}}}]}}


class Collector:
    """Time spent in the cycle collector while enabled."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._t = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        elif self.on:
            self.seconds += time.perf_counter() - self._t


async def run(kind: str, n: int, concurrency: int, collector: Collector) -> tuple[float, float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="mizzen-bench-create-"))
    store = SQLiteStore(tmp / "state.db")
    await store.start()
    api = APIServer(store, ServerConfig(tokens={TOKEN: {"username": "bench", "groups": ["system:masters"]}},
                                        disable_admission_plugins=("ServiceAccount",)))
    await api.start()
    make, plural = (configmap, "configmaps") if kind == "configmap" else (pod, "pods")
    headers = [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", b"application/json"),
               (b"user-agent", b"kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/mizzen")]

    async def create(i: int) -> None:
        status: list[int] = []

        def on_message(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await asgi_request(api, "POST", f"/api/v1/namespaces/default/{plural}", headers=headers,
                           body=orjson.dumps(make(i)), on_message=on_message)
        if status != [201]:
            raise RuntimeError(f"create answered {status}")

    try:
        await api.warmed()
        await create(-1)  # the schema and every lazy table loaded before timing
        gate = asyncio.Semaphore(concurrency)

        async def limited(i: int) -> None:
            async with gate:
                await create(i)

        collector.seconds, collector.on = 0.0, True
        cpu, wall = process_cpu_seconds(os.getpid()), time.perf_counter()
        await asyncio.gather(*(limited(i) for i in range(n)))
        cpu, wall = process_cpu_seconds(os.getpid()) - cpu, time.perf_counter() - wall
        collector.on = False
        return cpu / n * 1e6, n / wall, collector.seconds
    finally:
        await api.stop()
        await store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--kind", choices=("configmap", "pod"), action="append", help="default: both")
    a = ap.parse_args()
    gc.collect()
    gc.freeze()
    tune_for_long_lived_heap()  # as every mizzen component runs
    collector = Collector()
    gc.callbacks.append(collector)
    for kind in a.kind or ("configmap", "pod"):
        us, rate, gc_s = uvloop.run(run(kind, a.n, a.concurrency, collector))
        print(f"{kind}: {us:.0f} us CPU per create in process ({rate:.0f} creates/s), "
              f"cycle collector {gc_s * 1000:.0f} ms of {a.n} creates")


if __name__ == "__main__":
    main()
