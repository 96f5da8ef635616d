"""The kubelet's HTTPS server: container logs, exec, attach and port-forward of the pods on
this node, the endpoints the API server proxies ``pods/log``, ``pods/exec``, ``pods/attach`` and
``pods/portforward`` to (as Kubernetes' API server proxies them to port 10250).

Endpoints (Kubernetes' kubelet paths)::

    GET /healthz
    GET /stats/summary                                                   (pods' CPU and memory)
    GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&timestamps&sinceSeconds&sinceTime&previous&limitBytes
    GET /exec/{ns}/{pod}/{container}?command=..&input&output&error&tty     (WebSocket, v5/v4.channel.k8s.io)
    GET /attach/{ns}/{pod}/{container}?input&output&error&tty           (WebSocket, v5/v4.channel.k8s.io)
    GET /portforward/{ns}/{pod}                                          (WebSocket, SPDY/3.1+portforward.k8s.io)

Wire it with ``port = await serve_kubelet(runtime, tls=(cert, key), authenticate=fn, stop=event)``
or ``KubeletServer(...).start()`` / ``.stop()``.  ``authenticate(token) -> bool`` decides on the
``Authorization: Bearer`` token of every request except ``/healthz``; ``tls=None`` makes a
self-signed serving certificate (as a kubelet without ``--tls-cert-file`` does).

Pods are found in the runtime by namespace and name (``ContainerStatus.namespace/pod_name``);
of several pod UIDs with that name the most recently created wins.  Pod-level checks that need
the pod object (no node, container waiting, which container is the default) belong to the API
server; this server knows only what the runtime knows.

What it must never do: block the event loop (files are read in threads, processes awaited on
pipes), leave an exec'd process or a pod connection behind when its client goes away, or
answer an unauthenticated request (other than ``/healthz``) when ``authenticate`` is set.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime as dt
import json
import logging
import os
import re
import socket
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMessage, WSMsgType, web

from apimachinery import spdy
from kubelet.runtime import ContainerRuntimeError, ContainerStatus, Runtime, StartFailed
from kubelet.runtime import shim as _shim

log = logging.getLogger(__name__)

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
# how long a tty exec waits for the client's terminal size (kubectl sends it at once, but a
# loaded machine may take a while to relay it; a client that sends none starts this late)
INITIAL_SIZE_WAIT = 1.0
PORT_FORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
POLL = 0.1   # how often a followed log file is checked for new lines


# ------------------------------------------------------------------------------ log decisions

@dataclass
class LogRecord:
    """One logical log line: partial (``P``) records already joined to their final one."""

    ts: str          # RFC3339Nano of the line's first record
    stream: str      # stdout | stderr
    content: bytes   # without the newline
    complete: bool = True


@dataclass
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    since: float | None = None       # epoch seconds
    limit_bytes: int | None = None
    previous: bool = False


def parse_time(value: str) -> float:
    """RFC3339 (any fraction, ``Z`` or an offset) -> epoch seconds.  Raises ValueError."""
    v = value.strip()
    frac = 0.0
    if v.endswith("Z") or v.endswith("z"):
        v, offset = v[:-1], 0
    elif len(v) > 6 and v[-6] in "+-" and v[-3] == ":":
        sign = 1 if v[-6] == "+" else -1
        offset = sign * (int(v[-5:-3]) * 3600 + int(v[-2:]) * 60)
        v = v[:-6]
    else:
        raise ValueError(f"not an RFC3339 time: {value!r}")
    if "." in v:
        v, f = v.split(".", 1)
        if not f.isdigit():
            raise ValueError(f"not an RFC3339 time: {value!r}")
        frac = int(f) / 10 ** len(f)
    base = calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%S"))
    return base - offset + frac


def log_options(query: dict[str, str], now: float) -> LogOptions:
    """Query parameters of ``/containerLogs`` -> options; ValueError names a bad parameter."""
    def flag(name: str) -> bool:
        return query.get(name, "").lower() in ("true", "1")

    def number(name: str) -> int | None:
        raw = query.get(name, "")
        if raw == "":
            return None
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"{name}: invalid value {raw!r}") from None
        if n < 0:
            raise ValueError(f"{name}: must be greater than or equal to 0")
        return n

    opts = LogOptions(follow=flag("follow"), timestamps=flag("timestamps"), previous=flag("previous"),
                      tail_lines=number("tailLines"), limit_bytes=number("limitBytes"))
    since_seconds = number("sinceSeconds")
    if since_seconds is not None and query.get("sinceTime"):
        raise ValueError("at most one of sinceTime or sinceSeconds may be specified")
    if since_seconds is not None:
        opts.since = now - since_seconds
    elif query.get("sinceTime"):
        opts.since = parse_time(query["sinceTime"])
    return opts


class CRIParser:
    """CRI log lines (``<RFC3339Nano> stdout|stderr F|P <content>``) -> logical LogRecords,
    fed with bytes in any pieces.  Malformed lines are skipped, as the kubelet skips them."""

    def __init__(self) -> None:
        self._rest = b""
        self._partial: dict[str, LogRecord] = {}

    def feed(self, data: bytes) -> list[LogRecord]:
        data = self._rest + data
        lines = data.split(b"\n")
        self._rest = lines.pop()
        out: list[LogRecord] = []
        for line in lines:
            parts = line.split(b" ", 3)
            if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
                continue
            ts, stream, tag = parts[0].decode(), parts[1].decode(), parts[2]
            content = parts[3] if len(parts) == 4 else b""
            prev = self._partial.pop(stream, None)
            if prev is not None:
                prev.content += content
                rec = prev
            else:
                rec = LogRecord(ts, stream, content)
            if tag == b"P":
                self._partial[stream] = rec
            else:
                out.append(rec)
        return out

    def flush(self) -> list[LogRecord]:
        """Lines still partial at the end of the log (shown without a newline)."""
        out = [LogRecord(r.ts, r.stream, r.content, complete=False) for r in self._partial.values()]
        self._partial.clear()
        return sorted(out, key=lambda r: r.ts)


# the timestamp group stops before trailing zeros of the fraction: Go's RFC3339Nano output
_FULL_PREFIX = re.compile(rb"^([^\s.]+(?:\.\d*[1-9])?)\.?0*Z (?:stdout|stderr) F ", re.M)
_PARTIAL = re.compile(rb"^\S+ (?:stdout|stderr) P ", re.M)


def render_fast(data: bytes, tail_lines: int | None, timestamps: bool) -> tuple[bytes, bytes] | None:
    """The common case at C speed: a log of full (``F``) lines only, no since filter.
    Returns (rendered complete lines after tailLines, the incomplete rest to parse later), or
    None when the slow path (``CRIParser``) must decide: partial records or malformed lines.
    Example: ``T stdout F a\nT stderr F b\nT std`` with tail 1 -> (``b\n``, ``T std``)."""
    if _PARTIAL.search(data):
        return None
    end = data.rfind(b"\n") + 1
    body, rest = data[:end], data[end:]
    if tail_lines is not None:
        pos = len(body) - 1
        for _ in range(tail_lines):
            if pos < 0:
                break
            pos = body.rfind(b"\n", 0, pos)
        body = body[pos + 1:] if tail_lines else b""
    out, n = _FULL_PREFIX.subn(rb"\1Z " if timestamps else b"", body)
    if n != body.count(b"\n"):
        return None
    return out, rest


def select_records(records: list[LogRecord], opts: LogOptions) -> list[LogRecord]:
    """sinceTime/sinceSeconds, then tailLines (applied to what is already written)."""
    if opts.since is not None:
        records = [r for r in records if parse_time(r.ts) >= opts.since]
    if opts.tail_lines is not None:
        records = records[len(records) - opts.tail_lines:] if opts.tail_lines else []
    return records


def rfc3339_nano_out(ts: str) -> str:
    """A log timestamp as the kubelet prints it (Go's RFC3339Nano: no trailing zeros).
    Example: ``…T05:00:01.500000000Z`` -> ``…T05:00:01.5Z``; ``….000000000Z`` -> ``…Z``."""
    if not ts.endswith("Z") or "." not in ts:
        return ts
    return ts[:-1].rstrip("0").rstrip(".") + "Z"


def render(rec: LogRecord, timestamps: bool) -> bytes:
    prefix = rfc3339_nano_out(rec.ts).encode() + b" " if timestamps else b""
    return prefix + rec.content + (b"\n" if rec.complete else b"")


def terminal_size(payload: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a resize channel frame's JSON ``{"Width": .., "Height": ..}``;
    None when it is not one (or a dimension is out of a terminal's range)."""
    try:
        size = json.loads(payload)
        rows, cols = int(size.get("Height", 0)), int(size.get("Width", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    return (rows, cols) if 0 <= rows <= 0xFFFF and 0 <= cols <= 0xFFFF else None


async def _frames(first: list[WSMessage], ws: web.WebSocketResponse) -> AsyncIterator[WSMessage]:
    """``first``, then the frames still to come on ``ws``."""
    for msg in first:
        yield msg
    async for msg in ws:
        yield msg


def exit_status(argv: list[str], code: int) -> dict[str, Any]:
    """The channel-3 Status a finished exec ends with (what kubectl turns into its exit code)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(argv)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class _HTTPError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def response(self) -> web.Response:
        return web.json_response(status_body(self.code, self.reason, self.message), status=self.code)


def _bad(message: str) -> _HTTPError:
    return _HTTPError(400, "BadRequest", message)


def _not_found(message: str) -> _HTTPError:
    return _HTTPError(404, "NotFound", message)


# ------------------------------------------------------------------------------ the server

class KubeletServer:
    def __init__(self, runtime: Runtime, *, host: str = "127.0.0.1", port: int = 0,
                 tls: tuple[str, str] | None = None, authenticate: Callable[[str], bool] | None = None,
                 node_name: str = "") -> None:
        self.runtime = runtime
        self.node_name = node_name
        self._started_at = _shim.rfc3339_nano()
        self.host, self.port = host, port
        self.tls = tls
        self.authenticate = authenticate
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()

    # ---- lifecycle ----

    async def start(self) -> int:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self._logs)
        app.router.add_get("/stats/summary", self._summary)
        for verb in ("exec", "attach"):
            app.router.add_route("*", f"/{verb}/{{ns}}/{{pod}}/{{container}}", self._exec)
            app.router.add_route("*", f"/{verb}/{{ns}}/{{pod}}/{{uid}}/{{container}}", self._exec)
        app.router.add_route("*", "/portforward/{ns}/{pod}", self._portforward)
        app.router.add_route("*", "/portforward/{ns}/{pod}/{uid}", self._portforward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, ssl_context=await self._ssl_context(), backlog=128)
        await site.start()
        log.info("kubelet server listening on https://%s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        self._closing.set()
        for t in list(self._tasks):
            t.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.tls is not None:
            await asyncio.to_thread(ctx.load_cert_chain, *self.tls)
            return ctx
        await asyncio.to_thread(_load_self_signed, ctx, self.host)
        return ctx

    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if self.authenticate is not None and request.path != "/healthz":
            auth = request.headers.get("Authorization", "")
            if not (auth.startswith("Bearer ") and self.authenticate(auth[7:].strip())):
                return web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        try:
            return await handler(request)
        except _HTTPError as e:
            return e.response()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _summary(self, request: web.Request) -> web.Response:
        """Kubernetes' Summary API (``stats/v1alpha1``), pods part: cumulative CPU and memory
        of each running container, read from its cgroup."""
        now = _shim.rfc3339_nano()
        pods: dict[str, dict[str, Any]] = {}
        for c in await self.runtime.list_containers():
            if c.state != "running":
                continue
            try:
                st = await self.runtime.container_stats(c.id)
            except (OSError, ContainerRuntimeError):
                continue
            entry = pods.setdefault(c.pod_uid, {
                "podRef": {"name": c.pod_name, "namespace": c.namespace, "uid": c.pod_uid},
                "startTime": c.started_at, "containers": [],
                "cpu": {"time": now, "usageCoreNanoSeconds": 0},
                "memory": {"time": now, "usageBytes": 0, "workingSetBytes": 0}})
            entry["containers"].append({
                "name": c.name, "startTime": c.started_at,
                "cpu": {"time": now, "usageCoreNanoSeconds": st.cpu_usage_ns},
                "memory": {"time": now, "usageBytes": st.memory_usage_bytes,
                           "workingSetBytes": st.memory_working_set_bytes}})
            entry["cpu"]["usageCoreNanoSeconds"] += st.cpu_usage_ns
            entry["memory"]["usageBytes"] += st.memory_usage_bytes
            entry["memory"]["workingSetBytes"] += st.memory_working_set_bytes
        return web.json_response({"node": {"nodeName": self.node_name, "startTime": self._started_at},
                                  "pods": list(pods.values())})

    # ---- finding containers ----

    async def _containers(self, ns: str, pod: str) -> list[ContainerStatus]:
        mine = [c for c in await self.runtime.list_containers() if c.namespace == ns and c.pod_name == pod]
        if not mine:
            return []
        newest: dict[str, str] = {}
        for c in mine:
            newest[c.pod_uid] = max(newest.get(c.pod_uid, ""), c.created_at)
        uid = max(newest, key=lambda u: newest[u])
        return [c for c in mine if c.pod_uid == uid]

    async def _container(self, ns: str, pod: str, name: str, previous: bool = False) -> ContainerStatus:
        cs = await self._containers(ns, pod)
        if not cs:
            raise _not_found(f'pod "{pod}" not found in namespace "{ns}" on this node')
        attempts = sorted((c for c in cs if c.name == name), key=lambda c: (c.attempt, c.created_at))
        if not attempts:
            raise _bad(f'container "{name}" in pod "{pod}" is not available')
        if previous:
            if len(attempts) < 2:
                raise _bad(f'previous terminated container "{name}" in pod "{pod}" not found')
            return attempts[-2]
        return attempts[-1]

    async def _running(self, cid: str) -> bool:
        st = await self.runtime.container_status(cid)
        return st is not None and st.state == "running"

    # ---- logs ----

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod, name = request.match_info["ns"], request.match_info["pod"], request.match_info["container"]
        try:
            opts = log_options(dict(request.query), time.time())
        except ValueError as e:
            raise _bad(str(e)) from None
        c = await self._container(ns, pod, name, opts.previous)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        left = opts.limit_bytes
        def gone() -> bool:
            return request.transport is None or request.transport.is_closing()

        async for batch in self.follow_log(c, opts, gone=gone):
            chunk = b"".join(b for _stream, b in batch)
            if left is not None:
                chunk = chunk[:left]
                left -= len(chunk)
            try:
                await resp.write(chunk)
            except (ConnectionError, RuntimeError):
                return resp
            if left == 0:
                break
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
        return resp

    async def follow_log(self, c: ContainerStatus, opts: LogOptions, start: int | None = None,
                         gone: Callable[[], bool] = lambda: False) -> AsyncIterator[list[tuple[str, bytes]]]:
        """Batches of (stream, rendered line) of a container's log: what is written (after
        since/tail; with ``start``, only what is written from that offset on), then, with
        ``follow``, new lines until the container has exited and its log is read to the end,
        the log is removed, the client is ``gone()`` or the server stops.  One batch per read
        of the file, so a long log costs few writes."""
        parser = CRIParser()
        path = c.log_path

        def read_from(offset: int) -> tuple[bytes, int]:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < offset:       # rotated or truncated: start over
                    offset = 0
                f.seek(offset)
                data = f.read(4 << 20)
                return data, offset + len(data)

        try:
            if start is not None:
                offset, data = start, b""
            else:
                parts, offset = [], 0
                while True:           # the whole file before tail/since are applied
                    more, offset = await asyncio.to_thread(read_from, offset)
                    if not more:
                        break
                    parts.append(more)
                data = b"".join(parts)
        except FileNotFoundError:
            return
        fast = render_fast(data, opts.tail_lines, opts.timestamps) if opts.since is None else None
        if fast is not None:
            first_out, rest = fast
            if first_out:
                yield [("", first_out)]
            first = parser.feed(rest)
            if not opts.follow:
                first += parser.flush()
        else:
            first = select_records(parser.feed(data), opts)
            if not opts.follow:
                first += select_records(parser.flush(), LogOptions(since=opts.since))
        if first:
            yield [(rec.stream, render(rec, opts.timestamps)) for rec in first]
        if not opts.follow:
            return
        since_only = LogOptions(since=opts.since)
        exited_seen = False
        while not self._closing.is_set() and not gone():
            try:
                data, offset = await asyncio.to_thread(read_from, offset)
            except FileNotFoundError:
                return
            batch = [(rec.stream, render(rec, opts.timestamps)) for rec in select_records(parser.feed(data), since_only)]
            if batch:
                yield batch
            if data:
                continue
            if exited_seen:
                leftover = [(rec.stream, render(rec, opts.timestamps)) for rec in parser.flush()]
                if leftover:
                    yield leftover
                return
            if not await self._running(c.id):
                exited_seen = True   # one more read: the shim may have written its last lines
                continue
            await asyncio.sleep(POLL)

    # ---- exec / attach ----

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        ns, pod, name = request.match_info["ns"], request.match_info["pod"], request.match_info["container"]
        attach = request.path.startswith("/attach/")
        q = request.query

        def flag(*names: str) -> bool:
            return any(q.get(n, "").lower() in ("true", "1") for n in names)

        argv = q.getall("command", [])
        stdin, stdout, stderr, tty = flag("input", "stdin"), flag("output", "stdout"), flag("error", "stderr"), flag("tty")
        if not attach and not argv:
            raise _bad("you must specify at least one command for the container")
        if not (stdin or stdout or stderr):
            raise _bad("you must specify at least one of stdin, stdout, stderr")
        ws = web.WebSocketResponse(protocols=(V5, V4), autoping=True, max_msg_size=16 << 20)
        if not ws.can_prepare(request).ok:
            raise _HTTPError(400, "BadRequest", "Upgrade request required (WebSocket, v5.channel.k8s.io)")
        c = await self._container(ns, pod, name)
        if c.state != "running":
            raise _bad(f'container "{name}" in pod "{pod}" is not running')
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if attach:
                await self._attach_session(ws, c, stdin, stdout, stderr, tty)
            else:
                await self._exec_session(ws, c, argv, stdin, stdout, stderr, tty)
        finally:
            if task is not None:
                self._tasks.discard(task)
            if not ws.closed:
                await ws.close(code=1000)
        return ws

    async def _send(self, ws: web.WebSocketResponse, channel: int, data: bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(bytes([channel]) + data)

    async def _pump(self, ws: web.WebSocketResponse, fd: int, channel: int | None) -> None:
        """Copy what a pipe or terminal yields to a channel (``None``: discard) until EOF."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(fd, "rb", 0))
        try:
            while True:
                try:
                    chunk = await reader.read(65536)
                except OSError:       # EIO: the terminal's last holder went away
                    return
                if not chunk:
                    return
                if channel is not None:
                    await self._send(ws, channel, chunk)
        finally:
            transport.close()

    async def _exec_session(self, ws: web.WebSocketResponse, c: ContainerStatus, argv: list[str],
                            stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
        loop = asyncio.get_running_loop()
        fds: list[int] = []
        first: list[WSMessage] = []
        try:
            if tty:
                size, first = await self._initial_size(ws)
                proc = await self.runtime.exec_process(c.id, argv, tty=True, size=size)
                out_fd, in_fd = proc.pty_fd, os.dup(proc.pty_fd)
                err_fd = -1
            else:
                in_r, in_fd = os.pipe()
                out_fd, out_w = os.pipe()
                err_fd, err_w = os.pipe()
                fds = [in_r, out_w, err_w]
                try:
                    proc = await self.runtime.exec_process(c.id, argv, in_r, out_w, err_w)
                finally:
                    for fd in fds:
                        os.close(fd)
                    fds = []
        except (StartFailed, ContainerRuntimeError, OSError) as e:
            for fd in fds:
                os.close(fd)
            await self._send(ws, ERROR, json.dumps({"metadata": {}, "status": "Failure", "reason": "InternalError",
                                                    "message": f"error executing command in container: {e}"}).encode())
            return
        in_transport, in_protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                                  os.fdopen(in_fd, "wb", 0))
        writer = asyncio.StreamWriter(in_transport, in_protocol, None, loop)
        if not stdin and not tty:
            writer.close()
        pumps = [asyncio.ensure_future(self._pump(ws, out_fd, STDOUT if stdout else None))]
        if err_fd >= 0:
            pumps.append(asyncio.ensure_future(self._pump(ws, err_fd, STDERR if stderr else None)))
        reader = asyncio.ensure_future(self._client_input(ws, writer, proc, stdin, first))
        waiter = asyncio.ensure_future(proc.wait_async())
        try:
            await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():          # the client left: nobody reads the output any more
                proc.kill()
                await waiter
                return
            code = waiter.result()
            await asyncio.wait(pumps, timeout=1.0)   # output still buffered in the pipes
            await self._send(ws, ERROR, json.dumps(exit_status(argv, code)).encode())
        finally:
            reader.cancel()
            for p in pumps:
                p.cancel()
            await asyncio.gather(reader, *pumps, return_exceptions=True)
            if not writer.is_closing():
                writer.close()
            if not waiter.done():
                proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(waiter, 5)

    @staticmethod
    async def _initial_size(ws: web.WebSocketResponse) -> tuple[tuple[int, int] | None, list[WSMessage]]:
        """The client's terminal size (kubectl sends it as soon as the stream is up, maybe
        after some input), so that the terminal has it before the command starts; and the
        frames read meanwhile (to be handled as usual, in order)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INITIAL_SIZE_WAIT
        first: list[WSMessage] = []
        while (left := deadline - loop.time()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                break
            if msg.type == WSMsgType.BINARY and msg.data[:1] == bytes([RESIZE]):
                size = terminal_size(msg.data[1:])
                if size is not None:
                    return size, first
            first.append(msg)
            if msg.type != WSMsgType.BINARY:   # closing, or an error: nothing more to wait for
                break
        return None, first

    async def _client_input(self, ws: web.WebSocketResponse, writer: asyncio.StreamWriter, proc: Any,
                            stdin: bool, first: list[WSMessage] | None = None) -> None:
        """Client frames (``first``: those already read): stdin data, its end (v5 ``[255, 0]``)
        and terminal resizes."""
        async for msg in _frames(first or [], ws):
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            ch, data = msg.data[0], msg.data[1:]
            if ch == STDIN and stdin and not writer.is_closing():
                writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
            elif ch == CLOSE and data[:1] == bytes([STDIN]) and not writer.is_closing():
                writer.close()
            elif ch == RESIZE:
                size = terminal_size(data)
                if size is not None:
                    with contextlib.suppress(OSError):
                        proc.resize(*size)

    async def _attach_session(self, ws: web.WebSocketResponse, c: ContainerStatus, stdin: bool, stdout: bool,
                              stderr: bool, tty: bool) -> None:
        """Output of the container's main process from now on (its stdio belongs to the shim,
        which records it in the log), and with ``stdin`` the client's input into the
        container's stdin (a container with ``stdin: true``; the shim relays it)."""
        sock = await self.runtime.attach_stdin(c.id) if stdin else None
        # Where the output starts is taken before any input is relayed: what the container
        # answers to this client's first bytes must reach it.
        try:
            start = (await asyncio.to_thread(os.stat, c.log_path)).st_size
        except FileNotFoundError:
            start = 0

        async def pump() -> None:
            async for batch in self.follow_log(c, LogOptions(follow=True), start=start, gone=lambda: ws.closed):
                for stream, chunk in batch:
                    if stream == "stdout" and stdout:
                        await self._send(ws, STDOUT, chunk)
                    elif stream == "stderr" and (stderr or tty):
                        await self._send(ws, STDERR if not tty else STDOUT, chunk)

        out = asyncio.ensure_future(pump())
        resize = (lambda rows, cols: self.runtime.resize_tty(c.id, rows, cols)) if tty else None
        client = asyncio.ensure_future(self._attach_input(ws, sock, resize))
        try:
            await asyncio.wait({out, client}, return_when=asyncio.FIRST_COMPLETED)
            if out.done():
                st = await self.runtime.container_status(c.id)
                code = st.exit_code if st is not None and st.exit_code is not None else 0
                await self._send(ws, ERROR, json.dumps(exit_status([c.name], code)).encode())
        finally:
            for t in (out, client):
                t.cancel()
            await asyncio.gather(out, client, return_exceptions=True)
            if sock is not None:
                sock.close()     # this client is done with the container's stdin

    @staticmethod
    async def _attach_input(ws: web.WebSocketResponse, sock: socket.socket | None,
                            resize: Callable[[int, int], Awaitable[bool]] | None = None) -> None:
        """Client frames of an attach: stdin data to the shim (``sock``; None: no stdin), the
        end of stdin (v5 ``[255, 0]``) as the end of this client's input, terminal resizes
        to ``resize`` (a tty container)."""
        loop = asyncio.get_running_loop()
        if sock is not None:
            sock.setblocking(False)
        open_ = sock is not None
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            ch, data = msg.data[0], msg.data[1:]
            if ch == RESIZE and resize is not None:
                size = terminal_size(data)
                if size is not None:
                    with contextlib.suppress(OSError, ContainerRuntimeError):
                        await resize(*size)
            elif sock is None:
                continue
            elif ch == STDIN and open_ and data:
                try:
                    await loop.sock_sendall(sock, data)
                except OSError:          # stdin closed (stdinOnce used up, or the container ended)
                    open_ = False
            elif ch == CLOSE and data[:1] == bytes([STDIN]) and open_:
                open_ = False
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)

    # ---- port-forward ----

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        ws = web.WebSocketResponse(protocols=(PORT_FORWARD_PROTOCOL,), autoping=True, max_msg_size=16 << 20)
        if not ws.can_prepare(request).ok:
            raise _HTTPError(400, "BadRequest", f"Upgrade request required (WebSocket, {PORT_FORWARD_PROTOCOL})")
        cs = await self._containers(ns, pod)
        if not cs:
            raise _not_found(f'pod "{pod}" not found in namespace "{ns}" on this node')
        netns = await asyncio.to_thread(_pod_netns, self.runtime, cs)
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = PortForwardSession(ws, self.runtime, netns, f"{ns}/{pod}")
        try:
            await session.run()
        finally:
            if task is not None:
                self._tasks.discard(task)
            await session.close()
            if not ws.closed:
                await ws.close(code=1000)
        return ws


def _pod_netns(rt: Runtime, cs: list[ContainerStatus]) -> str | None:
    """The network namespace the pod's containers were started in (None: the host's)."""
    for c in cs:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return _shim.read_json(os.path.join(rt.containers_dir, c.id, "config.json")).get("netns")
    return None


@dataclass
class _Pair:
    request_id: str
    port: int = 0
    error_id: int = 0
    data_id: int = 0
    queue: asyncio.Queue[bytes | None] | None = None
    task: asyncio.Task[None] | None = None


class PortForwardSession:
    """One ``kubectl port-forward`` connection: SPDY/3.1 inside WebSocket binary messages.
    Per forwarded connection the client opens an error stream and a data stream sharing a
    ``requestid``; each is answered with SYN_REPLY, the data stream is piped to the port
    inside the pod's network namespace, and both end with FIN."""

    def __init__(self, ws: web.WebSocketResponse, runtime: Runtime, netns: str | None, pod: str) -> None:
        self.ws, self.runtime, self.netns, self.pod = ws, runtime, netns, pod
        self.codec = spdy.HeaderCodec()
        self.parser = spdy.FrameParser(self.codec)
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, frame: bytes) -> None:
        async with self._send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(frame)

    async def run(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY:
                continue
            try:
                frames = self.parser.feed(msg.data)
            except spdy.ProtocolError as e:
                log.info("port-forward %s: %s", self.pod, e)
                await self.send(spdy.goaway(0, 1))
                return
            for f in frames:
                if await self.handle(f):
                    return

    async def handle(self, f: spdy.Frame) -> bool:
        """One frame from the client; True when the session is over."""
        if f.type == spdy.SYN_STREAM:
            h = {k: v[0] for k, v in f.headers.items() if v}
            rid, kind = h.get("requestid", ""), h.get("streamtype", "")
            try:
                port = int(h.get("port", ""))
            except ValueError:
                port = 0
            if kind not in ("error", "data") or not 0 < port < 65536:
                await self.send(spdy.rst_stream(f.stream_id, spdy.RST_PROTOCOL_ERROR))
                return False
            await self.send(spdy.syn_reply(self.codec, f.stream_id))
            pair = self.pairs.setdefault(rid, _Pair(rid, port, queue=asyncio.Queue()))
            if kind == "error":
                pair.error_id = f.stream_id
            else:
                pair.data_id = f.stream_id
            self.by_stream[f.stream_id] = pair
            if pair.error_id and pair.data_id and pair.task is None:
                pair.task = asyncio.ensure_future(self.forward(pair))
        elif f.type == 0:
            target = self.by_stream.get(f.stream_id)
            if target is not None and f.stream_id == target.data_id and target.queue is not None:
                if f.data:
                    target.queue.put_nowait(f.data)
                if f.fin:
                    target.queue.put_nowait(None)
        elif f.type == spdy.RST_STREAM:
            target = self.by_stream.get(f.stream_id)
            if target is not None and target.task is not None:
                target.task.cancel()
        elif f.type == spdy.PING:
            await self.send(spdy.ping(f.value))
        elif f.type == spdy.GOAWAY:
            return True
        return False

    async def forward(self, pair: _Pair) -> None:
        assert pair.queue is not None
        try:
            if self.netns:
                reader, writer = await asyncio.wait_for(
                    self.runtime.open_connection_in_pod(self.netns, "127.0.0.1", pair.port), 10)
            else:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", pair.port), 10)
        except (OSError, TimeoutError) as e:
            why = "i/o timeout" if isinstance(e, TimeoutError) or not e.errno else os.strerror(e.errno).lower()
            msg = (f"error forwarding port {pair.port} to pod {self.pod}: failed to connect to localhost:"
                   f"{pair.port} inside namespace {self.netns or 'of the host'}: dial tcp4 127.0.0.1:{pair.port}: "
                   f"connect: {why}")
            await self.send(spdy.data_frame(pair.error_id, msg.encode()))
            await self.send(spdy.data_frame(pair.error_id, b"", fin=True))
            await self.send(spdy.data_frame(pair.data_id, b"", fin=True))
            return

        async def upstream() -> None:
            queue = pair.queue
            assert queue is not None
            while (chunk := await queue.get()) is not None:
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        up = asyncio.ensure_future(upstream())
        try:
            while chunk := await reader.read(32768):
                await self.send(spdy.data_frame(pair.data_id, chunk))
        except OSError:
            pass
        finally:
            up.cancel()
            await asyncio.gather(up, return_exceptions=True)
            writer.close()
            await self.send(spdy.data_frame(pair.data_id, b"", fin=True))
            await self.send(spdy.data_frame(pair.error_id, b"", fin=True))
            for sid in (pair.data_id, pair.error_id):
                self.by_stream.pop(sid, None)
            self.pairs.pop(pair.request_id, None)

    async def close(self) -> None:
        tasks = [p.task for p in self.pairs.values() if p.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ------------------------------------------------------------------------------ helpers

def _load_self_signed(ctx: ssl.SSLContext, host: str) -> None:
    cert, key = self_signed_cert(host)
    with tempfile.TemporaryDirectory(prefix="mizzen-kubelet-tls-") as d:
        cpath, kpath = os.path.join(d, "kubelet.crt"), os.path.join(d, "kubelet.key")
        with open(cpath, "wb") as f:
            f.write(cert)
        with open(os.open(kpath, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key)
        ctx.load_cert_chain(cpath, kpath)


def self_signed_cert(host: str) -> tuple[bytes, bytes]:
    """A serving certificate for ``host`` signed by itself (PEM cert, PEM key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{host}@{int(now.timestamp())}")])
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    with contextlib.suppress(ValueError):
        sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def token_authenticator(*tokens: str) -> Callable[[str], bool]:
    """``authenticate`` accepting exactly these bearer tokens (e.g. the kubeconfig's)."""
    import hmac
    allowed = [t.encode() for t in tokens if t]
    return lambda token: any(hmac.compare_digest(token.encode(), t) for t in allowed)


async def serve_kubelet(runtime: Runtime, *, host: str = "127.0.0.1", port: int = 0,
                        tls: tuple[str, str] | None = None, authenticate: Callable[[str], bool] | None = None,
                        stop: asyncio.Event, on_ready: Callable[[int], Any] | None = None, node_name: str = "") -> int:
    """Serve until ``stop`` is set; returns the port it was bound to.  ``on_ready(port)`` is
    called once listening (to publish ``status.daemonEndpoints.kubeletEndpoint.Port``)."""
    server = KubeletServer(runtime, host=host, port=port, tls=tls, authenticate=authenticate, node_name=node_name)
    bound = await server.start()
    try:
        if on_ready is not None:
            r = on_ready(bound)
            if asyncio.iscoroutine(r):
                await r
        await stop.wait()
    finally:
        await server.stop()
    return bound


__all__ = ["CRIParser", "KubeletServer", "LogOptions", "LogRecord", "PortForwardSession", "exit_status",
           "log_options", "parse_time", "select_records", "self_signed_cert", "serve_kubelet",
           "token_authenticator"]
