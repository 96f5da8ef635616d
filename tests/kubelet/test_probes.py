"""Probe counting (thresholds), readiness/started rules, and exec/tcpSocket/httpGet probes and
lifecycle hooks run against a fake target (exec) and real servers on 127.0.0.1 (tcp, http,
https with a self-signed certificate)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile

import pytest

from kubelet import probes
from kubelet.probes import FAILURE, SUCCESS, UNKNOWN, ProbeSettings, ProbeState, run_probe
from kubelet.server import self_signed_cert


@pytest.mark.parametrize(("outcomes", "success", "failure", "results"), [
    ([True], 1, 3, [SUCCESS]),
    ([False, False, False], 1, 3, [UNKNOWN, UNKNOWN, FAILURE]),
    ([False, False, True, False, False], 1, 3, [UNKNOWN, UNKNOWN, SUCCESS, SUCCESS, SUCCESS]),
    ([True, True, False], 2, 1, [UNKNOWN, SUCCESS, FAILURE]),
    ([False, True, True, True], 3, 1, [FAILURE, FAILURE, FAILURE, SUCCESS]),
])
def test_thresholds(outcomes: list[bool], success: int, failure: int, results: list[str]) -> None:
    st = ProbeState()
    s = ProbeSettings(success_threshold=success, failure_threshold=failure)
    seen = []
    for ok in outcomes:
        st.observe(ok, s)
        seen.append(st.result)
    assert seen == results


@pytest.mark.parametrize(("running", "has_readiness", "readiness", "started", "ready"), [
    (True, False, UNKNOWN, True, True),
    (True, True, UNKNOWN, True, False),
    (True, True, SUCCESS, True, True),
    (True, True, FAILURE, True, False),
    (True, False, UNKNOWN, False, False),      # startup probe not passed yet
    (False, False, UNKNOWN, True, False),
])
def test_container_ready(running: bool, has_readiness: bool, readiness: str, started: bool, ready: bool) -> None:
    assert probes.container_ready(running, has_readiness, readiness, started) is ready


@pytest.mark.parametrize(("running", "has_startup", "startup", "started"), [
    (True, False, UNKNOWN, True), (True, True, UNKNOWN, False), (True, True, SUCCESS, True), (False, False, SUCCESS, False),
])
def test_container_started(running: bool, has_startup: bool, startup: str, started: bool) -> None:
    assert probes.container_started(running, has_startup, startup) is started


def test_defaults_from_spec() -> None:
    s = ProbeSettings.from_spec({"exec": {"command": ["true"]}})
    assert (s.initial_delay, s.period, s.timeout, s.success_threshold, s.failure_threshold) == (0, 10, 1, 1, 3)


def test_named_port() -> None:
    c = {"ports": [{"name": "http", "containerPort": 8080}]}
    assert probes.resolve_port("http", c) == 8080
    assert probes.resolve_port(81, c) == 81
    with pytest.raises(ValueError):
        probes.resolve_port("nope", c)


class FakeTarget:
    def __init__(self, code: int = 0, out: bytes = b"", timed_out: bool = False) -> None:
        self.code, self.out, self.timed_out = code, out, timed_out
        self.argv: list[str] = []

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, bytes, bool]:  # noqa: ASYNC109
        self.argv = argv
        return self.code, self.out, self.timed_out

    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)


@pytest.mark.parametrize(("target", "ok", "message"), [
    (FakeTarget(0), True, ""),
    (FakeTarget(1, b"not ready\n"), False, "not ready"),
    (FakeTarget(0, timed_out=True), False, "timed out"),
])
async def test_exec_probe(target: FakeTarget, ok: bool, message: str) -> None:
    res = await run_probe({"exec": {"command": ["cat", "/tmp/x"]}}, {}, target, 1)
    assert res[0] is ok and message in res[1]
    assert target.argv == ["cat", "/tmp/x"]


async def _server(handler) -> tuple[asyncio.Server, int]:  # type: ignore[no-untyped-def]
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


async def test_tcp_probe() -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()
    srv, port = await _server(h)
    async with srv:
        assert await run_probe({"tcpSocket": {"port": port}}, {}, FakeTarget(), 1) == (True, "")
    ok, msg = await run_probe({"tcpSocket": {"port": port}}, {}, FakeTarget(), 1)
    assert not ok and msg == f"dial tcp 127.0.0.1:{port}: connect: connection refused"


@pytest.mark.parametrize(("code", "ok"), [(200, True), (302, True), (404, False), (500, False)])
async def test_http_probe(code: int, ok: bool) -> None:
    seen: list[bytes] = []

    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen.append(await r.readuntil(b"\r\n\r\n"))
        w.write(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n".encode())
        await w.drain()
        w.close()
    srv, port = await _server(h)
    async with srv:
        res = await run_probe({"httpGet": {"path": "/healthz", "port": "web",
                                           "httpHeaders": [{"name": "X-Probe", "value": "1"}]}},
                              {"ports": [{"name": "web", "containerPort": port}]}, FakeTarget(), 1)
    assert res[0] is ok
    if not ok:
        assert res[1] == f"HTTP probe failed with statuscode: {code}"
    assert seen[0].startswith(b"GET /healthz HTTP/1.1\r\n")
    assert b"User-Agent: kube-probe/1.32" in seen[0] and b"X-Probe: 1" in seen[0]


async def test_http_probe_timeout() -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
    srv, port = await _server(h)
    async with srv:
        ok, msg = await run_probe({"httpGet": {"path": "/", "port": port}}, {}, FakeTarget(), 0.2)
    assert not ok and "context deadline exceeded" in msg


async def test_worker_reports_flips_and_failures() -> None:
    changes: list[tuple[str, str]] = []
    failures: list[str] = []
    target = FakeTarget(1, b"boom")
    w = probes.ProbeWorker("liveness", {"exec": {"command": ["x"]}, "periodSeconds": 1, "failureThreshold": 2},
                           {"name": "c"}, target, on_change=lambda k, r, m: changes.append((k, r)),
                           on_failure=lambda k, m: failures.append(m))
    w.settings.period = 0.01
    w.start()
    while not changes:
        await asyncio.sleep(0.01)
    await w.stop()
    assert changes[0] == ("liveness", FAILURE)
    assert len(failures) >= 2 and failures[0] == "boom"


async def _tls_server(seen: list[bytes], code: int = 200) -> tuple[asyncio.Server, int, str]:
    """An HTTPS server with a self-signed certificate (which the kubelet does not verify)."""
    cert, key = self_signed_cert("127.0.0.1")
    d = tempfile.mkdtemp(prefix="mizzen-probe-tls-")
    with open(f"{d}/c.pem", "wb") as f:
        f.write(cert)
    with open(f"{d}/k.pem", "wb") as f:
        f.write(key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{d}/c.pem", f"{d}/k.pem")

    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen.append(await r.readuntil(b"\r\n\r\n"))
        w.write(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n".encode())
        await w.drain()
        w.close()
    srv = await asyncio.start_server(h, "127.0.0.1", 0, ssl=ctx)
    return srv, srv.sockets[0].getsockname()[1], d


@pytest.mark.parametrize(("code", "ok"), [(200, True), (503, False)])
async def test_https_probe_with_headers_and_host(code: int, ok: bool) -> None:
    seen: list[bytes] = []
    srv, port, d = await _tls_server(seen, code)
    try:
        async with srv:
            res = await run_probe({"httpGet": {"scheme": "HTTPS", "host": "127.0.0.1", "path": "/ready", "port": port,
                                               "httpHeaders": [{"name": "host", "value": "web.example"},
                                                               {"name": "X-Token", "value": "t"}]}},
                                  {}, FakeTarget(), 2)
    finally:
        shutil.rmtree(d)
    assert res == (ok, "" if ok else f"HTTP probe failed with statuscode: {code}")
    head = seen[0].decode()
    assert head.startswith("GET /ready HTTP/1.1\r\n")
    assert "host: web.example\r\n" in head and "Host: 127.0.0.1" not in head and "X-Token: t\r\n" in head


async def test_https_probe_against_plain_http_fails() -> None:
    async def h(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(100)
        w.write(b"HTTP/1.1 200 OK\r\n\r\n")
        w.close()
    srv, port = await _server(h)
    async with srv:
        ok, msg = await run_probe({"httpGet": {"scheme": "HTTPS", "port": port}}, {}, FakeTarget(), 2)
    assert not ok and msg.startswith(f'Get "https://127.0.0.1:{port}/": ')


async def test_hooks_https_exec_and_failures() -> None:
    seen: list[bytes] = []
    srv, port, d = await _tls_server(seen, 500)
    pod_ref = "p_default(u1)"
    try:
        async with srv:
            # any answer is a success for a lifecycle hook, whatever its status code
            assert await probes.run_hook({"httpGet": {"scheme": "HTTPS", "path": "/start", "port": port}},
                                         {"name": "c"}, FakeTarget(), pod_ref, 2) == (True, "")
    finally:
        shutil.rmtree(d)
    assert seen[0].startswith(b"GET /start HTTP/1.1\r\n")
    ok, msg = await probes.run_hook({"httpGet": {"path": "/x", "port": port}}, {"name": "c"}, FakeTarget(), pod_ref, 2)
    assert not ok and msg == (f'HTTP lifecycle hook (/x) for Container "c" in Pod "p_default(u1)" failed - error: '
                              f'Get "http://127.0.0.1:{port}/x": dial tcp 127.0.0.1:{port}: connect: connection refused')
    ok, msg = await probes.run_hook({"exec": {"command": ["sh", "-c", "exit 3"]}}, {"name": "c"},
                                    FakeTarget(3, b"nope\n"), pod_ref)
    assert not ok and msg == ('Exec lifecycle hook ([sh -c exit 3]) for Container "c" in Pod "p_default(u1)" failed'
                              " - error: command 'sh -c exit 3' exited with 3: , message: \"nope\\n\"")
    assert await probes.run_hook({"exec": {"command": ["true"]}}, {"name": "c"}, FakeTarget(0), pod_ref) == (True, "")
