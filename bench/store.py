"""Benchmark of the SQLite store alone (no HTTP): durable writes with group commit, reads
from memory, a 10k-key list, and the fan-out of one event to 1,000 watchers.

Run: `.venv/bin/python -m bench.store [--creates N] [--writers N] [--watchers N]`.
Prints one line per figure (`name value (goal ...)`) and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from apiserver.storage.sqlite import SQLiteStore

GOALS = {
    "store.create_per_s": (10_000, ">="),
    "store.fanout_1000_ms": (100, "<="),
}


def pod(ns: str, name: str) -> dict:
    """A pod of realistic size (~1 KB encoded)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns, "uid": f"00000000-0000-0000-0000-{abs(hash(name)) % 10**12:012d}",
            "labels": {"app": "bench", "tier": "backend"}, "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "containers": [{
                "name": "app", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": f"VAR_{i}", "value": "x" * 20} for i in range(8)],
            }],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }


async def bench_creates(store: SQLiteStore, total: int, writers: int) -> tuple[float, float, float]:
    per = total // writers
    latencies: list[float] = []

    async def writer(w: int) -> None:
        for j in range(per):
            t = time.perf_counter()
            await store.create(f"/registry/core/pods/bench/w{w}-{j:06}", pod("bench", f"w{w}-{j:06}"))
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return per * writers / elapsed, latencies[int(len(latencies) * 0.99)] * 1000, elapsed


async def bench_updates(store: SQLiteStore, total: int, writers: int) -> float:
    """Each writer updates its own object with resourceVersion preconditions."""
    per = total // writers

    async def writer(w: int) -> None:
        key = f"/registry/core/pods/bench/w{w}-{0:06}"
        kv = await store.get(key)
        assert kv is not None
        for _ in range(per):
            obj = pod("bench", f"w{w}-{0:06}")
            kv = await store.update(key, obj, expected_revision=kv.revision)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return per * writers / (time.perf_counter() - t0)


async def bench_gets(store: SQLiteStore, keys: list[str], rounds: int) -> float:
    t0 = time.perf_counter()
    n = 0
    for _ in range(rounds):
        for k in keys:
            kv = await store.get(k)
            assert kv is not None
            n += 1
    return n / (time.perf_counter() - t0)


async def bench_list(store: SQLiteStore, prefix: str, expect: int, rounds: int = 20) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        result = await store.list(prefix)
        times.append(time.perf_counter() - t)
        assert len(result.items) == expect, len(result.items)
    return statistics.median(times) * 1000


async def bench_fanout(store: SQLiteStore, watchers: int, rounds: int = 5) -> tuple[float, float]:
    """Time from the write call until the last of `watchers` watchers has the event (the
    commit's fsync included)."""
    key = "/registry/core/configmaps/fanout/cm"
    await store.create(key, {"metadata": {"name": "cm", "namespace": "fanout"}, "data": {"n": "0"}})
    watches = [store.watch("/registry/core/configmaps/", store.revision) for _ in range(watchers)]
    results = []
    for r in range(rounds):
        remaining = watchers
        done = asyncio.get_running_loop().create_future()
        last = 0.0

        async def consume(w, done: asyncio.Future[None]) -> None:
            nonlocal remaining, last
            async for _ in w:
                break
            remaining -= 1
            if remaining == 0:
                last = time.perf_counter()
                done.set_result(None)

        tasks = [asyncio.create_task(consume(w, done)) for w in watches]
        await asyncio.sleep(0.05)  # every watcher waits
        t0 = time.perf_counter()
        await store.update(key, {"metadata": {"name": "cm", "namespace": "fanout"}, "data": {"n": str(r)}})
        await done
        results.append((last - t0) * 1000)
        await asyncio.gather(*tasks)
    for w in watches:
        w.close()
    return statistics.median(results), max(results)


def line(name: str, value: float, figures: dict[str, float]) -> None:
    figures[name] = round(value, 2)
    goal = GOALS.get(name)
    suffix = f" (goal {goal[1]} {goal[0]})" if goal else ""
    sys.stdout.write(f"{name} {value:.1f}{suffix}\n")


async def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=64_000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--watchers", type=int, default=1000)
    args = parser.parse_args(argv)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mizzen-bench-store-") as tmp:
        path = Path(tmp) / "state.db"
        store = SQLiteStore(path)
        await store.start()
        try:
            await run(store, args, figures)
        finally:
            await store.close()  # an unclosed aiosqlite connection keeps the process alive
        line("store.db_mb", path.stat().st_size / 1e6, figures)
        t = time.perf_counter()
        store = SQLiteStore(path)
        await store.start()
        line("store.restart_ms", (time.perf_counter() - t) * 1000, figures)
        line("store.restart_keys", store.stats["keys"], figures)
        await store.close()
    sys.stdout.write(json.dumps({"bench": "store", **figures}) + "\n")
    return figures


async def run(store: SQLiteStore, args: argparse.Namespace, figures: dict[str, float]) -> None:
    rate, p99, _ = await bench_creates(store, args.creates, args.writers)
    line("store.create_per_s", rate, figures)
    line("store.create_p99_ms", p99, figures)
    stats = store.stats
    line("store.writes_per_transaction", stats["writes"] / max(1, stats["transactions"]), figures)

    line("store.update_per_s", await bench_updates(store, args.creates // 2, args.writers), figures)
    keys = [kv.key for kv in (await store.list("/registry/core/pods/bench/", limit=10_000)).items]
    line("store.get_per_s", await bench_gets(store, keys, 20), figures)
    for w in range(10):  # a prefix with exactly 10k keys
        await asyncio.gather(*(
            store.create(f"/registry/apps/deployments/ten/d{w}-{j:04}", pod("ten", f"d{w}-{j:04}"))
            for j in range(1000)
        ))
    line("store.list_10k_ms", await bench_list(store, "/registry/apps/deployments/ten/", 10_000), figures)

    median, worst = await bench_fanout(store, args.watchers)
    line(f"store.fanout_{args.watchers}_ms", median, figures)
    line(f"store.fanout_{args.watchers}_max_ms", worst, figures)


if __name__ == "__main__":
    asyncio.run(main())
