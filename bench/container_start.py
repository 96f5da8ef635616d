"""Benchmark: container start latency of the mizzen runtime, side by side with ``runc run``.

Measures, on the built-in busybox image:

* mizzen: 20 starts of ``sh -c true`` in a pod network namespace — time from
  ``start_container`` to the process exec'd (the call returns), and to the exit recorded by the
  shim; median and p99.
* runc: 20 ``runc run`` of the same busybox root filesystem (a copy, read-only root, a fresh
  bundle with the default ``runc spec`` namespaces, cgroup ``/mizzen-bench-*``), wall time of
  the whole run (create, start, exit, delete); median and p99.
* 100 containers (``sleep 60``) started at once: containers/s until all have exec'd.
* exec into a running container (``true``, what an exec probe costs): median and p99 of 20.

Prints human lines and one machine-readable line starting with ``BENCH``.  Needs root.
Everything it creates (cgroups, netns, runc state, temp dirs) is removed at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kubelet.images import ImageStore  # noqa: E402
from kubelet.runtime import ContainerSpec, Runtime  # noqa: E402

N = 20
BURST = 100


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def bench_mizzen(rt: Runtime, netns: str) -> tuple[list[float], list[float]]:
    to_exec, to_exit = [], []
    for i in range(N + 2):
        t0 = time.perf_counter()
        h = await rt.start_container(ContainerSpec(
            pod_uid="bench", pod_name="bench", namespace="default", name=f"c{i}", image="busybox",
            command=["sh", "-c", "true"], netns_path=netns))
        t1 = time.perf_counter()
        st = await rt.wait_container(h.id, 30)
        t2 = time.perf_counter()
        assert st.exit_code == 0, st
        await rt.remove_container(h.id)
        if i >= 2:  # two warm-up runs
            to_exec.append(t1 - t0)
            to_exit.append(t2 - t0)
    return to_exec, to_exit


def bench_runc(rootfs_src: str, work: str, tag: str) -> list[float]:
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    shutil.copytree(rootfs_src, os.path.join(bundle, "rootfs"), symlinks=True)
    subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "true"]
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    state = os.path.join(work, "state")
    times = []
    try:
        for i in range(N + 2):
            name = f"mizzen-bench-{tag}-{i}"
            cfg["linux"]["cgroupsPath"] = f"/{name}"
            with open(path, "w") as f:
                json.dump(cfg, f)
            t0 = time.perf_counter()
            r = subprocess.run(["runc", "--root", state, "run", "--bundle", bundle, name],
                               stdin=subprocess.DEVNULL, capture_output=True)
            t1 = time.perf_counter()
            if r.returncode != 0:
                raise SystemExit(f"runc run failed: {r.stderr.decode()}")
            if i >= 2:
                times.append(t1 - t0)
    finally:
        for i in range(N + 2):
            subprocess.run(["runc", "--root", state, "delete", "--force", f"mizzen-bench-{tag}-{i}"],
                           capture_output=True)
    return times


async def bench_exec(rt: Runtime, netns: str) -> list[float]:
    h = await rt.start_container(ContainerSpec(
        pod_uid="bench", pod_name="bench", namespace="default", name="exec", image="busybox",
        command=["sleep", "60"], netns_path=netns))
    times = []
    for i in range(N + 2):
        t0 = time.perf_counter()
        r = await rt.exec_in_container(h.id, ["true"], timeout=10)
        t1 = time.perf_counter()
        assert r.exit_code == 0, r
        if i >= 2:
            times.append(t1 - t0)
    await rt.stop_container(h.id, 0)
    await rt.remove_container(h.id)
    return times


async def bench_burst(rt: Runtime, netns: str) -> tuple[float, float]:
    specs = [ContainerSpec(pod_uid=f"burst{i}", pod_name=f"burst{i}", namespace="default", name="c",
                           image="busybox", command=["sleep", "60"], netns_path=netns)
             for i in range(BURST)]
    t0 = time.perf_counter()
    handles = await asyncio.gather(*(rt.start_container(s) for s in specs))
    t1 = time.perf_counter()
    running = [c for c in await rt.list_containers() if c.state == "running"]
    assert len(running) >= len(handles), "not every container is running"
    t2 = time.perf_counter()
    await asyncio.gather(*(rt.stop_container(h.id, 0) for h in handles))
    t3 = time.perf_counter()
    return t1 - t0, t3 - t2


async def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root")
    tag = secrets.token_hex(3)
    work = tempfile.mkdtemp(prefix="mizzen-bench-")
    rt = Runtime(os.path.join(work, "node"), images=ImageStore(os.path.join(work, "images")),
                 name=f"mizzen-bench-{tag}")
    try:
        img = rt.images.ensure_busybox()
        await rt.start()
        netns = await rt.create_pod_netns("bench")
        to_exec, to_exit = await bench_mizzen(rt, netns)
        execs = await bench_exec(rt, netns)
        runc = await asyncio.to_thread(bench_runc, img.layers[0], os.path.join(work, "runc"), tag)
        burst_start, burst_stop = await bench_burst(rt, netns)
    finally:
        await rt.cleanup_all()
        await rt.close()
        shutil.rmtree(work, ignore_errors=True)
    ms = 1000.0
    m_exec, m_exit, m_runc = (statistics.median(x) * ms for x in (to_exec, to_exit, runc))
    print(f"mizzen start->exec'd   median {m_exec:6.1f} ms  p99 {pct(to_exec, 99) * ms:6.1f} ms  (n={N})")
    print(f"mizzen start->exit     median {m_exit:6.1f} ms  p99 {pct(to_exit, 99) * ms:6.1f} ms")
    print(f"runc run (whole)       median {m_runc:6.1f} ms  p99 {pct(runc, 99) * ms:6.1f} ms")
    print(f"ratio mizzen(exit)/runc: {m_exit / m_runc:.2f}  (goal <= 2.0)")
    print(f"{BURST} containers at once: {BURST / burst_start:.0f} containers/s started "
          f"({burst_start * ms:.0f} ms), stopped in {burst_stop * ms:.0f} ms")
    print(f"exec in a running container: median {statistics.median(execs) * ms:.1f} ms  "
          f"p99 {pct(execs, 99) * ms:.1f} ms")
    print("BENCH " + json.dumps({
        "bench": "container_start", "n": N,
        "mizzen_exec_median_ms": round(m_exec, 2), "mizzen_exec_p99_ms": round(pct(to_exec, 99) * ms, 2),
        "mizzen_exit_median_ms": round(m_exit, 2), "mizzen_exit_p99_ms": round(pct(to_exit, 99) * ms, 2),
        "runc_median_ms": round(m_runc, 2), "runc_p99_ms": round(pct(runc, 99) * ms, 2),
        "ratio_exit_vs_runc": round(m_exit / m_runc, 3),
        "burst": BURST, "burst_containers_per_s": round(BURST / burst_start, 1),
        "burst_stop_ms": round(burst_stop * ms, 1),
        "exec_median_ms": round(statistics.median(execs) * ms, 2), "exec_p99_ms": round(pct(execs, 99) * ms, 2),
    }))


if __name__ == "__main__":
    asyncio.run(main())
