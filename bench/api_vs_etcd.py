"""mizzen's whole API path against a raw etcd, side by side, with the same client.

Both servers run on loopback in this run: Debian's etcd 3.4 (the store under kube-apiserver)
taking puts and ranges through its JSON gateway, and `mizzen apiserver` taking ConfigMap
creates and GETs over HTTPS. 64 concurrent aiohttp clients each. Prints throughput, p50/p99
latency and the ratios against the issue's goals (creates >= 1x etcd puts, GETs >= 1.5x etcd
ranges, p99 <= 200 ms), and the watch fan-out time of one event to 1,000 watchers.

Usage: python bench/api_vs_etcd.py [--seconds 5] [--concurrency 64]"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import uvloop
import yaml
import yarl

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


async def load(make_request, seconds: float, concurrency: int) -> tuple[float, list[float]]:
    lat: list[float] = []
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            i = next(counter)
            t = time.perf_counter()
            await make_request(i)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(lat) / (time.perf_counter() - t0), lat


async def bench_etcd(seconds: float, concurrency: int, tls: bool = False) -> dict[str, float]:
    """etcd's JSON gateway, over plain HTTP (as the issue measured it) or over TLS with a
    certificate like mizzen's (as kube-apiserver reaches etcd, and as mizzen is reached)."""
    etcd = shutil.which("etcd")
    if not etcd:
        print("etcd: not installed (apt-get install etcd-server); skipping the baseline")
        return {}
    tmp = tempfile.mkdtemp(prefix="mizzen-bench-etcd-")
    cport, pport = free_port(), free_port()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{cport}"
    tls_args: list[str] = []
    ctx: ssl.SSLContext | bool = True
    if tls:
        from apiserver.pki import ensure_pki
        pki = ensure_pki(Path(tmp) / "tls")
        tls_args = ["--cert-file", str(pki / "apiserver.crt"), "--key-file", str(pki / "apiserver.key")]
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    proc = subprocess.Popen([etcd, "--name", "mizzen-bench", "--data-dir", f"{tmp}/data", "--listen-client-urls", url,
                             *tls_args,
                             "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{pport}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
                             "--initial-cluster", f"mizzen-bench=http://127.0.0.1:{pport}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ETCD_UNSUPPORTED_ARCH": "arm64"})
    try:
        conn = aiohttp.TCPConnector(limit=concurrency, ssl=ctx)
        async with aiohttp.ClientSession(connector=conn) as s:
            for _ in range(100):
                try:
                    async with s.get(f"{url}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            value = base64.b64encode(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                 "data": {"k": "v" * 100}}).encode()).decode()

            async def put(i: int) -> None:
                key = base64.b64encode(f"/registry/configmaps/default/cm-{i}".encode()).decode()
                async with s.post(f"{url}/v3/kv/put", json={"key": key, "value": value}) as r:
                    await r.read()
                    assert r.status == 200, r.status

            async def get(i: int) -> None:
                key = base64.b64encode(f"/registry/configmaps/default/cm-{i % 1000}".encode()).decode()
                async with s.post(f"{url}/v3/kv/range", json={"key": key}) as r:
                    await r.read()
                    assert r.status == 200

            puts, put_lat = await load(put, seconds, concurrency)
            gets, get_lat = await load(get, seconds, concurrency)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"put_per_s": puts, "put_p99_ms": pct(put_lat, 0.99), "range_per_s": gets,
            "range_p99_ms": pct(get_lat, 0.99)}


def bench_mizzen(seconds: float, concurrency: int, fanout_runs: int = 3) -> dict[str, float]:
    """Creates and GETs with the client etcd got (aiohttp on asyncio's own loop); then the
    fan-out, which has no etcd side, with watchers on uvloop so that the client's own reading
    of 1,000 TLS streams weighs less in what is measured."""
    tmp = Path(tempfile.mkdtemp(prefix="mizzen-bench-api-"))
    proc = subprocess.Popen([sys.executable, "-m", "mizzen.cli", "apiserver", "--data-dir", str(tmp), "--port", "0"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("mizzen apiserver exited")
            if line.strip() == "ready":
                break
        cfg = yaml.safe_load((tmp / "kubeconfig").read_text())
        server = cfg["clusters"][0]["cluster"]["server"]
        ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        headers = {"Authorization": f"Bearer {cfg['users'][0]['user']['token']}",
                   "Content-Type": "application/json"}
        base = f"{server}/api/v1/namespaces/default/configmaps"
        ctx = ssl.create_default_context(cadata=ca)
        for _ in range(300):  # ready: start-up work (the OpenAPI documents) done, as kubectl finds it
            try:
                with urllib.request.urlopen(f"{server}/readyz", context=ctx, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.05)

        def session(limit: int) -> aiohttp.ClientSession:
            conn = aiohttp.TCPConnector(limit=limit, ssl=ssl.create_default_context(cadata=ca))
            return aiohttp.ClientSession(connector=conn, headers=headers)

        async def requests() -> tuple[float, list[float], float, list[float]]:
            async with session(concurrency) as s:
                async def create(i: int) -> None:
                    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"},
                                       "data": {"k": "v" * 100}})
                    async with s.post(base, data=body) as r:
                        await r.read()
                        assert r.status == 201, r.status

                async def get(i: int) -> None:
                    async with s.get(f"{base}/cm-{i % 1000}") as r:
                        await r.read()
                        assert r.status == 200, r.status

                creates, c_lat = await load(create, seconds, concurrency)
                gets, g_lat = await load(get, seconds, concurrency)
                return creates, c_lat, gets, g_lat

        async def fanouts() -> list[tuple[float, float]]:
            async with session(1) as s:
                return [await watch_fanout(s, base, proc.pid, name=f"fanout-{i}") for i in range(fanout_runs)]

        creates, c_lat, gets, g_lat = asyncio.run(requests())
        timed = uvloop.run(fanouts())
        runs = [ms for ms, _ in timed]
        fanout = sorted(runs)[len(runs) // 2]
        print("fanout runs (ms):", " ".join(f"{x:.1f}" for x in runs), "; the API server's CPU meanwhile (ms):",
              " ".join(f"{cpu:.0f}" for _, cpu in timed))
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"create_per_s": creates, "create_p99_ms": pct(c_lat, 0.99), "get_per_s": gets,
            "get_p99_ms": pct(g_lat, 0.99), "fanout_1000_ms": fanout}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def watch_fanout(s: aiohttp.ClientSession, base: str, server_pid: int, watchers: int = 1000,
                       name: str = "fanout") -> tuple[float, float]:
    """(Time from a write's start to the 1,000th watcher receiving its event, the API server's CPU
    meanwhile), both in ms.

    Each watcher is a bare asyncio protocol on its own TLS connection that notes when the
    event's bytes arrive: with 1,000 aiohttp responses (or even line readers) in this one
    Python process, the client's own parsing was much of what was measured."""
    async with s.get(base + "?limit=1") as r:
        rv = (await r.json())["metadata"]["resourceVersion"]
    url = yarl.URL(base)
    ctx = s.connector._ssl  # type: ignore[union-attr]
    auth = s.headers["Authorization"]
    request = (f"GET {url.raw_path}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3D{name} HTTP/1.1\r\n"
               f"Host: {url.host}:{url.port}\r\nAuthorization: {auth}\r\nAccept: application/json\r\n\r\n").encode()
    marker = f'"name":"{name}"'.encode()
    received: list[float] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    class Watcher(asyncio.Protocol):
        def __init__(self) -> None:
            self.headers = loop.create_future()
            self.seen = b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.write(request)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            if not self.headers.done():
                self.seen += data
                if b"\r\n\r\n" in self.seen:
                    self.headers.set_result(None)
                return
            if marker in data:
                received.append(time.perf_counter())
                if len(received) == watchers:
                    done.set()

    transports = []
    for i in range(0, watchers, 100):  # handshakes in batches, not 1,000 at once
        opened = await asyncio.gather(*(loop.create_connection(Watcher, url.host, url.port, ssl=ctx)
                                        for _ in range(min(100, watchers - i))))
        await asyncio.gather(*(p.headers for _, p in opened))
        transports += [t for t, _ in opened]
    await asyncio.sleep(0.5)
    cpu0 = cpu_seconds(server_pid)
    t0 = time.perf_counter()
    async with s.post(base, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}) as r:
        assert r.status == 201
    await asyncio.wait_for(done.wait(), 60)
    cpu_ms = (cpu_seconds(server_pid) - cpu0) * 1000
    for t in transports:
        t.close()
    return (max(received) - t0) * 1000, cpu_ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--fanout-runs", type=int, default=3, help="the median is reported")
    ap.add_argument("--skip-etcd", action="store_true")
    a = ap.parse_args()
    etcd = {} if a.skip_etcd else asyncio.run(bench_etcd(a.seconds, a.concurrency))
    etcd_tls = {} if a.skip_etcd else asyncio.run(bench_etcd(a.seconds, a.concurrency, tls=True))
    miz = bench_mizzen(a.seconds, a.concurrency, a.fanout_runs)
    for k, v in etcd.items():
        print(f"etcd.{k} {v:.1f}")
    for k, v in etcd_tls.items():
        print(f"etcd_tls.{k} {v:.1f}")
    for k, v in miz.items():
        print(f"mizzen.{k} {v:.1f}")
    if etcd:
        print(f"ratio.create_vs_etcd_put {miz['create_per_s'] / etcd['put_per_s']:.2f} (goal >= 1.0)")
        print(f"ratio.get_vs_etcd_range {miz['get_per_s'] / etcd['range_per_s']:.2f} (goal >= 1.5)")
    if etcd_tls:
        print(f"ratio.create_vs_etcd_tls_put {miz['create_per_s'] / etcd_tls['put_per_s']:.2f} (both over TLS)")
        print(f"ratio.get_vs_etcd_tls_range {miz['get_per_s'] / etcd_tls['range_per_s']:.2f} (both over TLS)")
    print(f"goal.p99_create_ms {miz['create_p99_ms']:.1f} (goal <= 200)")
    print(f"goal.p99_get_ms {miz['get_p99_ms']:.1f} (goal <= 200)")
    print(f"goal.fanout_1000_ms {miz['fanout_1000_ms']:.1f} (goal <= 100)")
    print(json.dumps({"bench": "api_vs_etcd", "etcd": etcd, "etcd_tls": etcd_tls, "mizzen": miz}))


if __name__ == "__main__":
    main()
