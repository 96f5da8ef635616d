"""apiserver.httpserver on the wire, with raw sockets on 127.0.0.1, in plain TCP and over TLS
(apiserver.tlstransport): what an HTTP/1.1 client relies on (keep-alive, bodies by length and
chunked, streams whose head comes at once, pipelined requests answered in order, the client
going away, bad requests, shutdown), and over TLS large bodies both ways with a slow reader
and a client that fails its handshake."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apiserver.httpserver import Server
from apiserver.pki import ensure_pki

Message = dict[str, Any]


async def app(scope: Message, receive: Any, send: Any) -> None:
    """/echo answers the body it read; /stream sends two chunks, then waits for the client
    to go away and records that; /slow answers after a moment; /fail raises."""
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"one\n", "more_body": True})
        await EVENTS["sent"].wait()
        await send({"type": "http.response.body", "body": b"two\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        EVENTS["gone"].set()
        return
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/slow":
        await asyncio.sleep(0.2)
    if path == "/big":  # 4 MiB, more than any socket buffer holds
        big = bytes(range(256)) * (16 * 1024)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(big)).encode())]})
        await send({"type": "http.response.body", "body": big})
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    out = b"%s %s %s q=%s" % (scope["method"].encode(), scope["path"].encode(), body, scope["query_string"])
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


EVENTS: dict[str, asyncio.Event] = {}  # made anew for each test's event loop


@dataclass
class Served:
    srv: Server
    port: int
    client_ssl: ssl.SSLContext | None

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port, ssl=self.client_ssl)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_pki(tmp_path_factory.mktemp("pki"))


async def serve(tls: bool, pki_dir: Path, keep_alive: float) -> Served:
    EVENTS["sent"], EVENTS["gone"] = asyncio.Event(), asyncio.Event()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server_ssl = client_ssl = None
    if tls:
        server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ssl.load_cert_chain(pki_dir / "apiserver.crt", pki_dir / "apiserver.key")
        client_ssl = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    srv = Server(app, ssl_context=server_ssl, keep_alive=keep_alive)
    await srv.start(sock)
    return Served(srv, sock.getsockname()[1], client_ssl)


@pytest.fixture(params=["tcp", "tls"])
async def server(request: pytest.FixtureRequest, pki_dir: Path) -> AsyncIterator[Served]:
    served = await serve(request.param == "tls", pki_dir, keep_alive=5.0)
    yield served
    await served.srv.shutdown(grace=1.0)


async def read_response(r: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status = int((await r.readline()).split()[1])
    headers: dict[str, str] = {}
    while (line := await r.readline()) not in (b"\r\n", b""):
        k, v = line.decode().split(":", 1)
        headers[k.lower()] = v.strip()
    if "content-length" in headers:
        return status, headers, await r.readexactly(int(headers["content-length"]))
    body = b""
    while True:
        size = int((await r.readline()).strip(), 16)
        chunk = await r.readexactly(size + 2)
        if size == 0:
            return status, headers, body
        body += chunk[:-2]


async def test_keep_alive_serves_requests_one_after_another(server: Served) -> None:
    r, w = await server.connect()
    for i in range(3):
        w.write(b"POST /echo?x=%d HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" % i)
        status, headers, body = await read_response(r)
        assert (status, body) == (201, b"POST /echo hello q=x=%d" % i)
        assert "date" in headers and headers.get("connection") != "close"
    w.close()


async def test_chunked_request_body_and_percent_decoded_path(server: Served) -> None:
    r, w = await server.connect()
    w.write(b"PUT /ec%68o HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    status, _, body = await read_response(r)
    assert (status, body) == (201, b"PUT /echo abcde q=")
    w.close()


async def test_pipelined_requests_are_answered_in_order(server: Served) -> None:
    r, w = await server.connect()
    w.write(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (await read_response(r))[2] == b"GET /slow  q="
    assert (await read_response(r))[2] == b"GET /fast  q="
    w.close()


async def test_a_stream_head_comes_at_once_and_its_end_is_noticed(server: Served) -> None:
    r, w = await server.connect()
    w.write(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in head
    assert await r.readline() == b"4\r\n" and await r.readexactly(6) == b"one\n\r\n"
    EVENTS["sent"].set()
    assert await r.readline() == b"4\r\n" and await r.readexactly(6) == b"two\n\r\n"
    w.close()
    await asyncio.wait_for(EVENTS["gone"].wait(), 5)  # the application learnt the client went away


async def test_errors_answer_500_then_400_for_garbage(server: Served) -> None:
    r, w = await server.connect()
    w.write(b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, _ = await read_response(r)
    assert status == 500
    r, w = await server.connect()
    w.write(b"NOT HTTP AT ALL\r\n\r\n")
    status, headers, _ = await read_response(r)
    assert status == 400 and headers["connection"] == "close"
    assert await r.read() == b""  # closed


async def test_expect_continue_and_connection_close(server: Served) -> None:
    r, w = await server.connect()
    w.write(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    assert await r.readline() == b"HTTP/1.1 100 Continue\r\n" and await r.readline() == b"\r\n"
    w.write(b"ok")
    status, headers, body = await read_response(r)
    assert (status, body, headers["connection"]) == (201, b"POST /echo ok q=", "close")
    assert await r.read() == b""


async def test_shutdown_ends_streams_and_closes_idle_connections(server: Served) -> None:
    srv = server.srv
    r1, w1 = await server.connect()
    w1.write(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
    await r1.readuntil(b"one\n\r\n")
    r2, w2 = await server.connect()
    w2.write(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
    await read_response(r2)
    await asyncio.wait_for(srv.shutdown(grace=5.0), 3)  # the stream does not hold it for the grace
    # ... and ends cleanly, so that a watcher simply watches again
    assert await asyncio.wait_for(r1.read(), 3) == b"0\r\n\r\n"
    assert await asyncio.wait_for(r2.read(), 3) == b""
    assert srv.tasks == set()


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_idle_connections_are_closed_after_keep_alive(tls: bool, pki_dir: Path) -> None:
    served = await serve(tls, pki_dir, keep_alive=0.2)
    try:
        r, w = await served.connect()
        w.write(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await read_response(r))[0] == 201
        assert await asyncio.wait_for(r.read(), 3) == b""  # closed by the server once idle
    finally:
        await served.srv.shutdown(grace=1.0)


async def test_large_bodies_both_ways_with_a_slow_reader(server: Served) -> None:
    """4 MiB out to a client that reads slowly (the server's writes wait, then resume), and
    1 MiB in, chunked, on the same connection afterwards."""
    r, w = await server.connect()
    w.write(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
    await asyncio.sleep(0.3)  # the server has filled every buffer by now
    status, _, body = await read_response(r)
    assert status == 200 and body == bytes(range(256)) * (16 * 1024)
    upload = b"x" * (1 << 20)
    w.write(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(upload), 65536):
        w.write(b"%x\r\n%b\r\n" % (65536, upload[i:i + 65536]))
    w.write(b"0\r\n\r\n")
    status, _, body = await read_response(r)
    assert (status, body) == (201, b"POST /echo " + upload + b" q=")
    w.close()


async def test_a_failed_handshake_does_not_disturb_others(pki_dir: Path) -> None:
    served = await serve(True, pki_dir, keep_alive=5.0)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", served.port)  # plain HTTP to a TLS port
        w.write(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # the server hangs up
            await asyncio.wait_for(r.read(), 3)
        assert served.srv.connections == set()
        r, w = await served.connect()
        w.write(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await read_response(r))[:1] == (201,)
        w.close()
    finally:
        await served.srv.shutdown(grace=1.0)


async def test_a_client_that_never_completes_its_handshake_is_dropped(pki_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from apiserver import tlstransport

    monkeypatch.setattr(tlstransport, "HANDSHAKE_TIMEOUT", 0.2)
    served = await serve(True, pki_dir, keep_alive=5.0)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", served.port)  # connects, says nothing
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(r.read(), 5) == b""  # hang guard: the server hangs up
        w.close()
    finally:
        await served.srv.shutdown(grace=1.0)
