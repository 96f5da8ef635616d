"""Benchmark: pod startup through the real mizzen kubelet, side by side with ``runc run``.

An API server (``mizzen apiserver``, port 0, fresh data dir) and the kubelet for ``node-1``
running in this process; pods are bound with ``spec.nodeName`` (no scheduler in the path).

* create -> Ready of 20 pods one after the other (busybox ``sleep``), as observed by a watch
  on the pods: median, p99, max (Kubernetes' SLO: p99 <= 5 s; goal here: median <= 2x runc's,
  no pod over 1 s);
* ``runc run`` of the same busybox root filesystem, 20 times (the approach of
  ``bench/container_start.py``);
* 100 pods created at once: pods/s until all are Ready, and the CPU they cost per pod (this
  process: kubelet and watch client; the API server; the shims and the containers' own
  set-up before exec), a figure that holds on a loaded machine where pods/s does not;
* 110 idle pods (the node's capacity): kubelet CPU (% of one core) and memory (RSS of this
  process, which is the kubelet plus a watch client) over 20 s, and the shims' total RSS.

The client here keeps a few connections alive (as a client-go client multiplexes one), so
100 creates at once do not cost 100 TLS handshakes. Prints human lines and one
machine-readable line starting with ``BENCH``. Needs root.
Everything is removed at the end (kubelet stopped with cleanup, runc state, temp dirs).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apimachinery.client import ApiClient  # noqa: E402
from kubelet.agent import Kubelet, run_kubelet  # noqa: E402
from mizzen.testing import Cluster, process_cpu_seconds  # noqa: E402

N = 20
BURST = 100
IDLE_PODS = 110
IDLE_SECONDS = 20.0


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


class ReadyWatch:
    """Records when each pod is first seen Ready by a watch."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.ready: dict[str, float] = {}
        self.gone: set[str] = set()
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        rv = (await self.api.list("pods", "default"))["metadata"]["resourceVersion"]
        while True:
            async for typ, obj in self.api.watch("pods", "default", resource_version=rv, timeout_seconds=300):
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                name = obj.get("metadata", {}).get("name", "")
                if typ == "DELETED":
                    self.gone.add(name)
                    self.ready.pop(name, None)
                conds = (obj.get("status") or {}).get("conditions") or []
                if typ != "DELETED" and name not in self.ready and any(
                        c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                    self.ready[name] = time.perf_counter()
                self.changed.set()

    async def wait(self, pred) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 120
        while not pred():
            self.changed.clear()
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for pods")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1)


def _load_container_bench():  # type: ignore[no-untyped-def]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "container_start.py")
    spec = importlib.util.spec_from_file_location("mizzen_bench_container_start", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _proc_cpu(pid: int | str) -> float:
    """CPU seconds a process's main thread has run, exact to the nanosecond (shims and
    containers: single-threaded)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _containers_cpu(kdir: Path) -> float:
    """CPU seconds of the running containers' shims and processes (a container's process
    keeps what its set-up before exec cost)."""
    total = 0.0
    for d in kdir.iterdir():
        with contextlib.suppress(OSError, ValueError):
            st = json.loads((d / "state.json").read_text())
            if st.get("status") == "running":
                total += _proc_cpu(st["shim_pid"]) + _proc_cpu(st["pid"])
    return total


def _rss_mb(pid: int | str = "self", field: str = "VmRSS:", file: str = "status") -> float:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def delete_all(api: ApiClient, w: ReadyWatch, names: list[str]) -> None:
    await asyncio.gather(*(api.delete("pods", n, "default") for n in names))
    await w.wait(lambda: all(n in w.gone for n in names))


async def main() -> None:
    if os.environ.get("BENCH_EXECUTOR"):
        from concurrent.futures import ThreadPoolExecutor
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(int(os.environ["BENCH_EXECUTOR"])))
    if os.geteuid() != 0:
        raise SystemExit("needs root")
    tag = secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix="mizzen-bench-pods-"))
    cb = _load_container_bench()
    try:
        with Cluster.start(work / "api", command="apiserver") as c:
            stop = asyncio.Event()
            box: list[Kubelet] = []
            kubelet = asyncio.create_task(run_kubelet(str(c.kubeconfig), node_name="node-1", data_dir=work / "kubelet",
                                                      stop=stop, cleanup=True, on_started=box.append))
            # a few kept-alive connections, as a client-go client multiplexes one: 100 creates at once
            # must not cost 100 TLS handshakes on both sides
            api = ApiClient.from_kubeconfig(str(c.kubeconfig), max_connections=8)
            try:
                while not box:
                    await asyncio.sleep(0.01)
                await asyncio.wait_for(box[0].registered.wait(), 60)
                w = ReadyWatch(api)
                await asyncio.sleep(0.5)
                # 1. sequential create -> Ready
                lat: list[float] = []
                names = []
                for i in range(N + 2):
                    name = f"seq-{i}"
                    names.append(name)
                    t0 = time.perf_counter()
                    await api.create("pods", pod(name), "default")
                    await w.wait(lambda name=name: name in w.ready)
                    if i >= 2:
                        lat.append(w.ready[name] - t0)
                await delete_all(api, w, names)
                # 2. runc on the same rootfs
                img = box[0].runtime.images.resolve("busybox")
                assert img is not None
                runc = await asyncio.to_thread(cb.bench_runc, img.layers[0], str(work / "runc"), tag)
                # 3. burst
                burst = [f"burst-{i}" for i in range(BURST)]
                burst_cpu0, api_cpu0 = _cpu_seconds(), process_cpu_seconds(c.proc.pid)
                t0 = time.perf_counter()
                await asyncio.gather(*(api.create("pods", pod(n), "default") for n in burst))
                await w.wait(lambda: all(n in w.ready for n in burst))
                burst_s = max(w.ready[n] for n in burst) - t0
                burst_cpu = (_cpu_seconds() - burst_cpu0) / burst_s * 100
                per_pod = {"kubelet_process": _cpu_seconds() - burst_cpu0, "apiserver": process_cpu_seconds(c.proc.pid) - api_cpu0,
                           "shims_and_containers": _containers_cpu(work / "kubelet" / "containers")}
                per_pod = {k: v / BURST * 1000 for k, v in per_pod.items()}
                # 4. idle at capacity
                extra = [f"idle-{i}" for i in range(IDLE_PODS - BURST)]
                await asyncio.gather(*(api.create("pods", pod(n), "default") for n in extra))
                await w.wait(lambda: all(n in w.ready for n in extra))
                await asyncio.sleep(5)
                cpu0, t_0 = _cpu_seconds(), time.monotonic()
                await asyncio.sleep(IDLE_SECONDS)
                cpu_pct = (_cpu_seconds() - cpu0) / (time.monotonic() - t_0) * 100
                rss = _rss_mb()
                shims = 0.0
                kdir = work / "kubelet" / "containers"
                for d in kdir.iterdir():
                    with contextlib.suppress(OSError, ValueError):
                        st = json.loads((d / "state.json").read_text())
                        if st.get("status") == "running":
                            shims += _rss_mb(st["shim_pid"], "Pss:", "smaps_rollup")
                w.task.cancel()
            finally:
                stop.set()
                await asyncio.wait_for(kubelet, 120)
                await api.close()
    finally:
        # also when the API server or the kubelet failed to start
        shutil.rmtree(work, ignore_errors=True)
    ms = 1000.0
    med, p99, mx = statistics.median(lat) * ms, pct(lat, 99) * ms, max(lat) * ms
    m_runc = statistics.median(runc) * ms
    print(f"pod create->Ready (watch)  median {med:6.1f} ms  p99 {p99:6.1f} ms  max {mx:6.1f} ms  (n={N})")
    print(f"runc run (whole)           median {m_runc:6.1f} ms  p99 {pct(runc, 99) * ms:6.1f} ms")
    print(f"ratio pod/runc: {med / m_runc:.2f}  (goal <= 2.0; no pod over 1 s: {'yes' if mx <= 1000 else 'no'})")
    print(f"{BURST} pods at once: all Ready in {burst_s * ms:.0f} ms = {BURST / burst_s:.1f} pods/s  (goal >= 100); "
          f"kubelet process CPU meanwhile {burst_cpu:.0f}% of a core")
    print("CPU per pod of the burst: " + ", ".join(f"{k} {v:.1f} ms" for k, v in per_pod.items())
          + f", total {sum(per_pod.values()):.1f} ms  (2 cores: at most {2000 / sum(per_pod.values()):.0f} pods/s)")
    print(f"{IDLE_PODS} idle pods: kubelet process CPU {cpu_pct:.1f}% of a core, RSS {rss:.0f} MB; "
          f"shims PSS total {shims:.0f} MB")
    print("BENCH " + json.dumps({
        "bench": "pod_startup", "n": N, "ready_median_ms": round(med, 1), "ready_p99_ms": round(p99, 1),
        "ready_max_ms": round(mx, 1), "runc_median_ms": round(m_runc, 1), "ratio_vs_runc": round(med / m_runc, 2),
        "burst": BURST, "burst_pods_per_s": round(BURST / burst_s, 1),
        "burst_cpu_pct": round(burst_cpu, 1),
        "burst_cpu_ms_per_pod": {k: round(v, 2) for k, v in per_pod.items()}, "idle_pods": IDLE_PODS,
        "idle_cpu_pct": round(cpu_pct, 2), "idle_rss_mb": round(rss, 1), "shims_pss_mb": round(shims, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
