"""A lean HTTP/1.1 server for the API server's ASGI application, over TLS.

Why it exists: every request pays its HTTP server's own work, and on the resource paths that
work was most of a request. Measured here with the same TLS set-up and client: uvicorn's
generic ASGI server costs about 95 us of CPU per request, a bare protocol on httptools about
55 us (a GET of a stored object costs the API server itself ~15 us). This server keeps the
ASGI interface, so the application and its in-process tests do not change, and does only
what the API needs: keep-alive with an idle timeout, request bodies (length or chunked),
responses with a length or chunked (watch streams, followed logs: their head is written at
once), write back-pressure, a disconnect message for streams, a response's head and body
written in one TLS record, and a graceful shutdown. TLS connections are served by
apiserver.tlstransport (OpenSSL on the socket itself: 20 us less per request than uvloop's
TLS here). WebSocket upgrades (exec, attach, port-forward) are handed to uvicorn's
WebSocket protocol, as uvicorn itself does.

What it must never do: run two requests of one connection at once (HTTP/1.1 answers in
order; a pipelined request waits for the one before it), or buffer a slow client's stream
without bound (the application waits while the transport's buffer is full)."""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
import ssl
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import httptools

from apiserver.tlstransport import TLSListener

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                    Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in http.HTTPStatus}
_DISCONNECT = {"type": "http.disconnect"}


def _status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode()


class _Date:
    """The Date header, formatted once a second."""

    def __init__(self) -> None:
        self.second = 0
        self.header = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.header = b"date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode() + b"\r\n"
        return self.header


class Server:
    """Serves `app` on a listening socket. `ws_protocol` builds the protocol a WebSocket
    upgrade is handed to (given the raw request bytes), or None to refuse upgrades."""

    def __init__(self, app: ASGIApp, *, ssl_context: ssl.SSLContext | None,
                 ws_protocol: Callable[[], asyncio.Protocol] | None = None, keep_alive: float = 120.0) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.ws_protocol = ws_protocol
        self.keep_alive = keep_alive
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.date = _Date()
        self.scheme = "https" if ssl_context is not None else "http"
        self.stopping = False
        self._server: asyncio.Server | None = None
        self._listener: TLSListener | None = None
        # the loop it serves on (asyncio.get_running_loop() costs a getpid() syscall per call)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self, sock: socket.socket) -> None:
        loop = self.loop = asyncio.get_running_loop()
        if self.ssl_context is not None:  # OpenSSL on the socket itself (see tlstransport)
            sock.listen(2048)
            self._listener = TLSListener(loop, sock, self.ssl_context, lambda: _Connection(self))
        else:
            self._server = await loop.create_server(lambda: _Connection(self), sock=sock, backlog=2048)
        self._reaper = loop.create_task(self._close_idle())

    async def _close_idle(self) -> None:
        """One sweep every few seconds closes the connections idle for `keep_alive` (rather
        than a timer armed and cancelled around every request)."""
        while True:
            await asyncio.sleep(min(self.keep_alive / 4, 10.0))
            deadline = time.monotonic() - self.keep_alive
            for c in list(self.connections):
                if c.idle_since is not None and c.idle_since < deadline:
                    c.close()

    async def shutdown(self, grace: float = 2.0) -> None:
        """Stop accepting; close idle connections at once and busy ones after their
        response; after `grace` seconds, cancel what is still running and close everything."""
        self.stopping = True
        if self._reaper is not None:
            self._reaper.cancel()
        if self._server is not None:
            self._server.close()
        if self._listener is not None:
            self._listener.close()
        for c in list(self.connections):
            c.shutdown()
            if c.cycle is not None and c.cycle.chunked and c.cycle.task is not None:
                c.cycle.task.cancel()  # a stream (watch, followed log) has no end to wait for
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for c in list(self.connections):
            c.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)


class _Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.cycle: _Cycle | None = None
        self.pipeline: deque[_Cycle] = deque()
        self.idle_since: float | None = None  # when the last response ended (None: busy)
        self.write_paused = False
        self.writable = asyncio.Event()
        self.writable.set()
        self.read_paused = False
        self.closing = False
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None

    # -- transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses
        self.server.connections.add(self)
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.local = (str(local[0]), int(local[1])) if isinstance(local, tuple) else None
        self.idle_since = time.monotonic()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        for cycle in (self.cycle, *self.pipeline):
            if cycle is not None:
                cycle.disconnected = True
                cycle.event.set()
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade(data)
        except httptools.HttpParserError as e:
            self._bad_request(f"Invalid HTTP request received: {e}")

    def eof_received(self) -> bool | None:
        return None  # close the transport: a half-closed client has nothing more to send

    def pause_writing(self) -> None:
        self.write_paused = True
        self.writable.clear()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.writable.set()

    # -- parser callbacks

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        if parser.should_upgrade() and self._websocket_upgrade():
            return  # handed over in data_received
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = urllib.parse.unquote(path)
        version = parser.get_http_version()
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": version,
            "server": self.local, "client": self.client, "scheme": self.server.scheme,
            "method": parser.get_method().decode("ascii"), "root_path": "", "path": path, "raw_path": raw_path,
            "query_string": url.query or b"", "headers": self.headers,
        }
        keep_alive = version != "1.0" and parser.should_keep_alive()
        cycle = _Cycle(self, scope, keep_alive, any(k == b"expect" and v.lower() == b"100-continue"
                                                     for k, v in self.headers))
        if self.cycle is None:
            self._run(cycle)
        else:
            self.pipeline.append(cycle)
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        cycle = self.pipeline[-1] if self.pipeline else self.cycle
        if cycle is not None and not cycle.complete:
            cycle.body.append(body)
            cycle.event.set()

    def on_message_complete(self) -> None:
        cycle = self.pipeline[-1] if self.pipeline else self.cycle
        if cycle is not None:
            cycle.more_body = False
            cycle.event.set()

    # -- requests

    def _run(self, cycle: _Cycle) -> None:
        self.cycle = cycle
        loop = self.server.loop
        assert loop is not None
        task = cycle.task = loop.create_task(cycle.run(self.server.app))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    def response_done(self, cycle: _Cycle) -> None:
        """The response of `cycle` is written: next pipelined request, or wait idle."""
        if self.cycle is cycle:
            self.cycle = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not cycle.keep_alive or self.closing:
            transport.close()
            return
        if self.pipeline:
            self._run(self.pipeline.popleft())
            if not self.pipeline:
                self._resume_reading()
        else:
            self._resume_reading()
            self.idle_since = time.monotonic()

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()

    def _websocket_upgrade(self) -> bool:
        if self.server.ws_protocol is None:
            return False
        upgrade = connection = b""
        for k, v in self.headers:
            if k == b"upgrade":
                upgrade = v.lower()
            elif k == b"connection":
                connection = v.lower()
        return upgrade == b"websocket" and b"upgrade" in connection

    def _upgrade(self, data: bytes) -> None:
        """A WebSocket upgrade goes to the WebSocket protocol with the request as it came;
        any other upgrade (SPDY) is answered as a plain request, which refuses it."""
        if not self._websocket_upgrade():
            self.on_message_complete()
            return
        assert self.transport is not None and self.server.ws_protocol is not None
        self.server.connections.discard(self)
        method = self.parser.get_method()
        head = [method, b" ", self.url, b" HTTP/1.1\r\n"]
        for k, v in self.headers:
            head += [k, b": ", v, b"\r\n"]
        head.append(b"\r\n")
        protocol = self.server.ws_protocol()
        protocol.connection_made(self.transport)
        protocol.data_received(b"".join(head))
        self.transport.set_protocol(protocol)

    def _bad_request(self, message: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        body = message.encode("latin-1", "replace")
        self.transport.write(_status_line(400) + b"content-type: text/plain; charset=utf-8\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()

    def shutdown(self) -> None:
        self.closing = True
        if self.cycle is None:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class _Cycle:
    """One request and its response, as the ASGI application sees them."""

    __slots__ = ("conn", "scope", "keep_alive", "expect_continue", "body", "more_body", "delivered", "event",
                 "disconnected", "started", "complete", "chunked", "head", "head_only", "task")

    def __init__(self, conn: _Connection, scope: dict[str, Any], keep_alive: bool, expect_continue: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.body: list[bytes] = []
        self.more_body = True
        self.delivered = False  # the whole request body was handed to the application
        self.event = asyncio.Event()
        self.disconnected = False
        self.started = False
        self.complete = False
        self.chunked = False
        self.head = b""
        self.head_only = scope["method"] == "HEAD"
        self.task: asyncio.Task[None] | None = None

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            log.exception("unhandled error serving %s %s", self.scope["method"], self.scope["path"])
            if not self.started and not self.disconnected:
                await self.send({"type": "http.response.start", "status": 500,
                                 "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await self.send({"type": "http.response.body", "body": b"Internal Server Error"})
        finally:
            if not self.complete and self.chunked and self.conn.server.stopping and not self.disconnected:
                self._write(b"", False)  # a stream ended by the shutdown ends cleanly: clients watch again
            if not self.complete:  # the application ended or failed mid-response: close
                self.keep_alive = False
                self.complete = True
                self.event.set()
                self.conn.response_done(self)

    async def receive(self) -> dict[str, Any]:
        transport = self.conn.transport
        if self.expect_continue and transport is not None and not transport.is_closing():
            self.expect_continue = False
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.delivered:  # what is left to tell is the client going away (or the response done)
            while not self.disconnected and not self.complete:
                self.event.clear()
                await self.event.wait()
            return _DISCONNECT
        while not self.disconnected and not self.complete and not self.body and self.more_body:
            self.event.clear()
            await self.event.wait()
        if self.disconnected or self.complete:
            return _DISCONNECT
        body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        self.body = []
        self.delivered = not self.more_body
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: dict[str, Any]) -> None:
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.writable.wait()
        if self.disconnected:
            return
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("the response was started already")
            self.started = True
            status = int(message["status"])
            out = [_status_line(status), conn.server.date()]
            has_length = False
            for name, value in message.get("headers") or ():
                lname = name.lower()
                if lname == b"content-length":
                    has_length = True
                elif lname == b"connection" and value.lower() == b"close":
                    self.keep_alive = False
                out += [name, b": ", value, b"\r\n"]
            if not has_length and not self.head_only and status not in (204, 304) and status >= 200:
                self.chunked = True
                out.append(b"transfer-encoding: chunked\r\n")
            if not self.keep_alive:
                out.append(b"connection: close\r\n")
            out.append(b"\r\n")
            self.head = b"".join(out)
            if self.chunked:  # a stream: its client waits for the head before any event
                self.conn.transport.write(self.head)  # type: ignore[union-attr]
                self.head = b""
        elif kind == "http.response.body":
            if not self.started or self.complete:
                raise RuntimeError("response body outside a response")
            self._write(message.get("body", b""), bool(message.get("more_body", False)))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def _write(self, body: bytes, more: bool) -> None:
        transport = self.conn.transport
        assert transport is not None
        head, self.head = self.head, b""
        if self.head_only:
            data = head
        elif self.chunked:
            data = head + (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + (b"" if more else b"0\r\n\r\n")
        else:
            data = head + body
        if data:
            transport.write(data)
        if not more:
            self.complete = True
            self.event.set()
            self.conn.response_done(self)
