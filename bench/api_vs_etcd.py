"""mizzen's whole API path against a raw etcd, side by side, with the same client.

The servers run on loopback in this run: Debian's etcd 3.4 (the store under kube-apiserver)
taking puts and ranges through its JSON gateway, over plain HTTP and over TLS, and `mizzen
apiserver` taking ConfigMap creates and GETs over HTTPS. 64 concurrent aiohttp clients each.
The servers are measured in alternating rounds (the machine is shared: a load that comes and
goes then weighs on each side alike), each ratio is taken within a round, and the medians are
reported: throughput, p99 latency, the ratios against the issue's goals (creates >= 1x etcd
puts, GETs >= 1.5x etcd ranges, p99 <= 200 ms), and the watch fan-out time of one event to
1,000 watchers.

Usage: python bench/api_vs_etcd.py [--seconds 4] [--rounds 3] [--concurrency 64]"""

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
from typing import Any

import aiohttp
import uvloop
import yaml
import yarl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ETCD = shutil.which("etcd")

from mizzen.testing import process_cpu_seconds  # noqa: E402


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


class Etcd:
    """etcd on loopback, over plain HTTP (as the issue measured it) or over TLS with a
    certificate like mizzen's (as kube-apiserver reaches etcd, and as mizzen is reached):
    puts and ranges through its JSON gateway."""

    def __init__(self, tls: bool = False) -> None:
        self.tls = tls
        self.tmp = tempfile.mkdtemp(prefix="mizzen-bench-etcd-")
        cport, pport = free_port(), free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{cport}"
        tls_args: list[str] = []
        self.ssl: ssl.SSLContext | bool = True
        if tls:
            from apiserver.pki import ensure_pki
            pki = ensure_pki(Path(self.tmp) / "tls")
            tls_args = ["--cert-file", str(pki / "apiserver.crt"), "--key-file", str(pki / "apiserver.key")]
            self.ssl = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.proc = subprocess.Popen(
            [ETCD, "--name", "mizzen-bench", "--data-dir", f"{self.tmp}/data", "--listen-client-urls", self.url,
             *tls_args, "--advertise-client-urls", self.url, "--listen-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-cluster", f"mizzen-bench=http://127.0.0.1:{pport}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ETCD_UNSUPPORTED_ARCH": "arm64"})
        self.value = base64.b64encode(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                  "data": {"k": "v" * 100}}).encode()).decode()
        self.round = 0

    def session(self, limit: int) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, ssl=self.ssl))

    async def ready(self, s: aiohttp.ClientSession) -> None:
        for _ in range(100):
            try:
                async with s.get(f"{self.url}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("etcd did not become healthy")

    async def write(self, s: aiohttp.ClientSession, i: int) -> None:
        key = base64.b64encode(f"/registry/configmaps/default/cm-{self.round}-{i}".encode()).decode()
        async with s.post(f"{self.url}/v3/kv/put", json={"key": key, "value": self.value}) as r:
            await r.read()
            assert r.status == 200, r.status

    async def read(self, s: aiohttp.ClientSession, i: int) -> None:
        key = base64.b64encode(f"/registry/configmaps/default/cm-0-{i % 1000}".encode()).decode()
        async with s.post(f"{self.url}/v3/kv/range", json={"key": key}) as r:
            await r.read()
            assert r.status == 200

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Mizzen:
    """`mizzen apiserver` on loopback: ConfigMap creates and GETs over HTTPS."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="mizzen-bench-api-"))
        self.proc = subprocess.Popen([sys.executable, "-m", "mizzen.cli", "apiserver", "--data-dir", str(self.tmp),
                                      "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("mizzen apiserver exited")
            if line.strip() == "ready":
                break
        cfg = yaml.safe_load((self.tmp / "kubeconfig").read_text())
        server = cfg["clusters"][0]["cluster"]["server"]
        self.ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        self.headers = {"Authorization": f"Bearer {cfg['users'][0]['user']['token']}",
                        "Content-Type": "application/json"}
        self.base = f"{server}/api/v1/namespaces/default/configmaps"
        ctx = ssl.create_default_context(cadata=self.ca)
        for _ in range(300):  # ready: start-up work (the OpenAPI documents) done, as kubectl finds it
            try:
                with urllib.request.urlopen(f"{server}/readyz", context=ctx, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.05)
        self.round = 0

    def session(self, limit: int) -> aiohttp.ClientSession:
        conn = aiohttp.TCPConnector(limit=limit, ssl=ssl.create_default_context(cadata=self.ca))
        return aiohttp.ClientSession(connector=conn, headers=self.headers)

    async def ready(self, s: aiohttp.ClientSession) -> None:
        pass

    async def write(self, s: aiohttp.ClientSession, i: int) -> None:
        body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{self.round}-{i}"},
                           "data": {"k": "v" * 100}})
        async with s.post(self.base, data=body) as r:
            await r.read()
            assert r.status == 201, r.status

    async def read(self, s: aiohttp.ClientSession, i: int) -> None:
        async with s.get(f"{self.base}/cm-0-{i % 1000}") as r:
            await r.read()
            assert r.status == 200, r.status

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
        shutil.rmtree(self.tmp, ignore_errors=True)


async def measure(target: Etcd | Mizzen, seconds: float, concurrency: int) -> dict[str, Any]:
    """One round against one target: writes, then reads (of keys the first round wrote),
    with the same aiohttp client on asyncio's own loop; and the CPU the server and the client
    spent per write (on this 2-core machine the two share the cores, so their sum is what
    bounds the rate)."""
    async with target.session(concurrency) as s:
        await target.ready(s)
        server0, client0 = process_cpu_seconds(target.proc.pid), time.process_time()
        writes, w_lat = await load(lambda i: target.write(s, i), seconds, concurrency)
        server_us = (process_cpu_seconds(target.proc.pid) - server0) / len(w_lat) * 1e6
        client_us = (time.process_time() - client0) / len(w_lat) * 1e6
        reads, r_lat = await load(lambda i: target.read(s, i), seconds, concurrency)
    target.round += 1
    return {"write_per_s": writes, "write_lat": w_lat, "read_per_s": reads, "read_lat": r_lat,
            "write_server_cpu_us": server_us, "write_client_cpu_us": client_us}


def fanouts(m: Mizzen, runs: int) -> list[tuple[float, float]]:
    """The fan-out has no etcd side: with watchers on uvloop, so that the client's own
    reading of 1,000 TLS streams weighs less in what is measured."""
    async def go() -> list[tuple[float, float]]:
        async with m.session(1) as s:
            return [await watch_fanout(s, m.base, m.proc.pid, name=f"fanout-{i}") for i in range(runs)]
    return uvloop.run(go())


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
    cpu0 = process_cpu_seconds(server_pid)
    t0 = time.perf_counter()
    async with s.post(base, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}) as r:
        assert r.status == 201
    await asyncio.wait_for(done.wait(), 60)
    cpu_ms = (process_cpu_seconds(server_pid) - cpu0) * 1000
    for t in transports:
        t.close()
    return (max(received) - t0) * 1000, cpu_ms


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0, help="per phase and round")
    ap.add_argument("--rounds", type=int, default=3, help="etcd and mizzen alternate; medians are reported")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--fanout-runs", type=int, default=3, help="the median is reported")
    ap.add_argument("--skip-etcd", action="store_true")
    a = ap.parse_args()
    if not a.skip_etcd and not ETCD:
        print("etcd: not installed (apt-get install etcd-server); skipping the baseline")
    targets: dict[str, Etcd | Mizzen] = {}
    rounds: dict[str, list[dict[str, Any]]] = {}
    try:
        if not a.skip_etcd and ETCD:
            targets["etcd"], targets["etcd_tls"] = Etcd(), Etcd(tls=True)
        targets["mizzen"] = Mizzen()
        # Rounds alternate the servers, so that a change in the machine's load (it is shared)
        # weighs on each side alike; each ratio is taken within one round.
        for r in range(a.rounds):
            for name, target in targets.items():
                rounds.setdefault(name, []).append(asyncio.run(measure(target, a.seconds, a.concurrency)))
            print(f"round {r + 1}: " + ", ".join(
                f"{name} {res[-1]['write_per_s']:.0f} writes/s (CPU per write: server "
                f"{res[-1]['write_server_cpu_us']:.0f} us, client {res[-1]['write_client_cpu_us']:.0f} us) "
                f"{res[-1]['read_per_s']:.0f} reads/s" for name, res in rounds.items()), flush=True)
        mizzen = targets["mizzen"]
        assert isinstance(mizzen, Mizzen)
        timed = fanouts(mizzen, a.fanout_runs)
    finally:
        for target in targets.values():
            target.close()
    runs = [ms for ms, _ in timed]
    print("fanout runs (ms):", " ".join(f"{x:.1f}" for x in runs), "; the API server's CPU meanwhile (ms):",
          " ".join(f"{cpu:.0f}" for _, cpu in timed))
    out: dict[str, dict[str, float]] = {}
    for name, res in rounds.items():
        lat_w = [x for r in res for x in r["write_lat"]]
        lat_r = [x for r in res for x in r["read_lat"]]
        write, read = ("create", "get") if name == "mizzen" else ("put", "range")
        out[name] = {f"{write}_per_s": median([r["write_per_s"] for r in res]), f"{write}_p99_ms": pct(lat_w, 0.99),
                     f"{read}_per_s": median([r["read_per_s"] for r in res]), f"{read}_p99_ms": pct(lat_r, 0.99)}
    out["mizzen"]["fanout_1000_ms"] = median(runs)
    for name, figures in out.items():
        for k, v in figures.items():
            print(f"{name}.{k} {v:.1f}")
    miz = rounds["mizzen"]
    for base, label in (("etcd", ""), ("etcd_tls", " (both over TLS)")):
        if base not in rounds:
            continue
        creates = [m["write_per_s"] / e["write_per_s"] for m, e in zip(miz, rounds[base], strict=True)]
        gets = [m["read_per_s"] / e["read_per_s"] for m, e in zip(miz, rounds[base], strict=True)]
        goal_c, goal_g = (" (goal >= 1.0)", " (goal >= 1.5)") if base == "etcd" else (label, label)
        print(f"ratio.create_vs_{base}_put {median(creates):.2f}{goal_c}; per round: "
              + " ".join(f"{x:.2f}" for x in creates))
        print(f"ratio.get_vs_{base}_range {median(gets):.2f}{goal_g}; per round: " + " ".join(f"{x:.2f}" for x in gets))
    print(f"goal.p99_create_ms {out['mizzen']['create_p99_ms']:.1f} (goal <= 200)")
    print(f"goal.p99_get_ms {out['mizzen']['get_p99_ms']:.1f} (goal <= 200)")
    print(f"goal.fanout_1000_ms {out['mizzen']['fanout_1000_ms']:.1f} (goal <= 100)")
    print(json.dumps({"bench": "api_vs_etcd", **out}))


if __name__ == "__main__":
    main()
