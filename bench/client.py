"""Benchmark of the client machinery: is it ever the bottleneck of a controller?

- work queue: keys through add -> get -> done with N workers, in process (keys/s);
- REST client: ConfigMap creates and GETs with C concurrent requests against a real
  `mizzen apiserver` (requests/s, p50/p99 latency);
- informer: watch events delivered to a handler while a writer creates objects (events/s),
  and the time for an informer to list-and-sync N objects.

Usage: python bench/client.py [--objects 2000] [--concurrency 64] [--keys 200000]
Prints readable lines, then one line `BENCH client {json}`."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apimachinery.client.informer import Informer  # noqa: E402
from apimachinery.client.rest import ApiClient  # noqa: E402
from apimachinery.client.workqueue import WorkQueue, run_workers  # noqa: E402
from apimachinery.metrics import Registry  # noqa: E402
from mizzen.testing import Cluster  # noqa: E402


async def bench_queue(keys: int, workers: int) -> float:
    q = WorkQueue("bench", registry=Registry())
    done = 0

    async def reconcile(_: object) -> None:
        nonlocal done
        done += 1

    runner = asyncio.ensure_future(run_workers(q, reconcile, workers=workers, name="bench", registry=Registry()))
    t0 = time.perf_counter()
    for i in range(keys):
        q.add(f"ns/k{i % (keys // 2)}")  # half are duplicates: coalesced
        if i % 1000 == 0:
            await asyncio.sleep(0)
    q.shutdown()
    await runner
    elapsed = time.perf_counter() - t0
    return keys / elapsed


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def bench_rest(api: ApiClient, ns: str, objects: int, concurrency: int) -> dict[str, float]:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(coro_fn) -> None:  # type: ignore[no-untyped-def]
        async with sem:
            t = time.perf_counter()
            await coro_fn()
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(lambda i=i: api.create("configmaps", {"metadata": {"name": f"c{i}"},
                                                                       "data": {"k": "v" * 100}}, ns))
                           for i in range(objects)))
    create_s = time.perf_counter() - t0
    create_lat = lat[:]
    lat.clear()
    t0 = time.perf_counter()
    await asyncio.gather(*(one(lambda i=i: api.get("configmaps", f"c{i}", ns)) for i in range(objects)))
    get_s = time.perf_counter() - t0
    return {"creates_per_s": objects / create_s, "create_p50_ms": statistics.median(create_lat) * 1e3,
            "create_p99_ms": pct(create_lat, 0.99) * 1e3, "gets_per_s": objects / get_s,
            "get_p50_ms": statistics.median(lat) * 1e3, "get_p99_ms": pct(lat, 0.99) * 1e3}


async def bench_informer(api: ApiClient, ns: str, existing: int, new: int, concurrency: int) -> dict[str, float]:
    inf = Informer(api, "configmaps", ns)
    seen = 0
    all_seen = asyncio.Event()

    def on_add(_: dict) -> None:
        nonlocal seen
        seen += 1
        if seen == existing + new:
            all_seen.set()

    inf.add_handler(on_add=on_add)
    t0 = time.perf_counter()
    inf.start()
    await inf.wait_synced()
    sync_s = time.perf_counter() - t0
    sem = asyncio.Semaphore(concurrency)

    async def create(i: int) -> None:
        async with sem:
            await api.create("configmaps", {"metadata": {"name": f"w{i}"}}, ns)

    t0 = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(new)))
    await asyncio.wait_for(all_seen.wait(), 120)
    watch_s = time.perf_counter() - t0
    await inf.stop()
    return {"informer_sync_objects": existing, "informer_sync_s": sync_s,
            "watch_events_per_s_with_writer": new / watch_s}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args()
    out: dict[str, float | int] = {"objects": args.objects, "concurrency": args.concurrency}

    out["queue_keys_per_s"] = await bench_queue(args.keys, args.workers)
    print(f"work queue: {out['queue_keys_per_s']:,.0f} keys/s through add/get/reconcile/done "
          f"({args.workers} workers, half the adds coalesced)", flush=True)

    with tempfile.TemporaryDirectory(prefix="mizzen-bench-client-") as tmp, \
            Cluster.start(Path(tmp), command="apiserver") as cluster:
        async with ApiClient.from_kubeconfig(str(cluster.kubeconfig)) as api:
            await api.create("namespaces", {"metadata": {"name": "bench"}})
            rest = await bench_rest(api, "bench", args.objects, args.concurrency)
            out.update(rest)
            print(f"REST ({args.concurrency} concurrent): {rest['creates_per_s']:,.0f} creates/s "
                  f"(p50 {rest['create_p50_ms']:.1f} ms, p99 {rest['create_p99_ms']:.1f} ms); "
                  f"{rest['gets_per_s']:,.0f} GETs/s (p50 {rest['get_p50_ms']:.1f} ms, "
                  f"p99 {rest['get_p99_ms']:.1f} ms)", flush=True)
            inf = await bench_informer(api, "bench", args.objects, args.objects // 2, args.concurrency)
            out.update(inf)
            print(f"informer: listed and synced {args.objects} objects in {inf['informer_sync_s']:.2f}s; "
                  f"{inf['watch_events_per_s_with_writer']:,.0f} watch events/s delivered while creating",
                  flush=True)
    print("BENCH client " + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    asyncio.run(main())
