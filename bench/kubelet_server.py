"""Benchmark of the kubelet server and the API server's proxy to it, with the real kubectl.

    sudo .venv/bin/python bench/kubelet_server.py

Runs `mizzen up --runtime none` plus an in-process kubelet agent advertising a kubelet server
(as e2e/test_logs_exec_agent.py wires it), then prints:
- `kubectl exec -- true` wall time (median, p90 of 20; includes kubectl's own start-up) and
  the same exec straight at the kubelet server over WebSocket (median of 50);
- `kubectl logs` of a 200,000-line log (seconds, MB/s);
- `kubectl port-forward` throughput downloading 64 MiB from busybox httpd in the pod.
Everything it creates is removed at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mizzen.testing import AgentNode, Cluster  # noqa: E402

NODE = "node-bench"


def pod(name: str, script: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                                "command": ["sh", "-c", script]}]}})


async def direct_exec(port: int, token: str, n: int) -> list[float]:
    import aiohttp
    times = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for _ in range(n):
            t0 = time.perf_counter()
            async with s.ws_connect(f"https://127.0.0.1:{port}/exec/default/shell/c?command=true&output=1",
                                    ssl=False, protocols=["v5.channel.k8s.io"]) as ws:
                async for _m in ws:
                    pass
            times.append(time.perf_counter() - t0)
    return times


async def timed_get(url: str, token: str) -> tuple[float, int]:
    import aiohttp
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        t0 = time.perf_counter()
        async with s.get(url, ssl=False) as r:
            body = await r.read()
        return time.perf_counter() - t0, len(body)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mizzen-bench-kubelet-server-") as d:
        tmp = Path(d)
        with Cluster.start(tmp, "--runtime", "none") as c:
            node = AgentNode(c.kubeconfig, tmp / "kubelet", NODE, user_agent="kubelet-bench")
            node.start()
            try:
                run(c, node)
            finally:
                node.stop()


def run(c: Cluster, node: AgentNode) -> None:
    c.kubectl("create", "-f", "-", input=pod("shell", "sleep 3600"))
    c.kubectl("create", "-f", "-", input=pod("chatty", "seq 1 200000 | sed 's/^/log line number /'; sleep 3600"))
    c.kubectl("create", "-f", "-", input=pod(
        "httpd", "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=64 2>/dev/null && touch /www/ok "
                 "&& exec httpd -f -p 8080 -h /www"))
    for p in ("shell", "chatty", "httpd"):
        c.kubectl("wait", "--for=condition=Ready", f"pod/{p}", "--timeout=120s")

    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        c.kubectl("exec", "shell", "--", "true")
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"kubectl exec -- true: median {statistics.median(times) * 1000:.0f} ms, "
          f"p90 {times[int(len(times) * 0.9) - 1] * 1000:.0f} ms (20 runs, kubectl start-up included)")
    direct = sorted(asyncio.run_coroutine_threadsafe(direct_exec(node.port, node.token, 50), node.loop).result(120))
    print(f"exec at the kubelet server (WebSocket, no kubectl): median {statistics.median(direct) * 1000:.1f} ms, "
          f"p90 {direct[44] * 1000:.1f} ms (50 runs)")

    c.wait_for(lambda: "number 200000" in c.kubectl("logs", "chatty", "--tail=1").out, timeout=60, what="log")
    t0 = time.perf_counter()
    out = c.kubectl("logs", "chatty").out
    dt = time.perf_counter() - t0
    print(f"kubectl logs, {out.count(chr(10))} lines ({len(out) / 1e6:.1f} MB): {dt:.2f} s "
          f"({len(out) / 1e6 / dt:.1f} MB/s)")
    for what, url in (("at the kubelet server", f"https://127.0.0.1:{node.port}/containerLogs/default/chatty/c"),
                      ("through the API server", f"{c.server}/api/v1/namespaces/default/pods/chatty/log")):
        dt, n = asyncio.run_coroutine_threadsafe(timed_get(url, node.token), node.loop).result(120)
        print(f"  the same log {what} (aiohttp client): {dt:.2f} s ({n / 1e6 / dt:.1f} MB/s)")

    proc = subprocess.Popen(["kubectl", "port-forward", "pod/httpd", ":8080"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=c.env)
    try:
        assert proc.stdout is not None
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", proc.stdout.readline())
        assert m, "port-forward did not start"
        url = f"http://127.0.0.1:{m.group(1)}/"

        def ok() -> Any:
            try:
                with urllib.request.urlopen(url + "ok", timeout=5):
                    return True
            except OSError:
                return False
        c.wait_for(ok, timeout=60, what="httpd")
        t0 = time.perf_counter()
        with urllib.request.urlopen(url + "big", timeout=300) as resp:
            n = len(resp.read())
        dt = time.perf_counter() - t0
        print(f"kubectl port-forward: {n / 2**20:.0f} MiB in {dt:.2f} s ({n / 2**20 / dt:.0f} MiB/s)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("run as root (containers)")
    main()
