"""The thin ASGI layer under the resource API: a request object and response helpers.

The resource paths (`/api/...`, `/apis/...`) are the hot path of the whole platform, so they
are served straight from ASGI, without a web framework's routing, validation and response
classes in between (measured here: bare ASGI ~14k req/s against FastAPI's ~5k). Everything
else (health, metrics, OpenAPI, version) is ordinary FastAPI.

This module knows nothing of Kubernetes objects: bytes in, bytes out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from apimachinery.errors import RequestEntityTooLarge, StatusError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Kubernetes refuses request bodies over 3 MiB before decoding them.
MAX_BODY = 3 * 1024 * 1024
JSON = b"application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    receive: Receive
    scope: Scope
    user: dict[str, Any] = field(default_factory=dict)
    _body: bytes | None = None

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        qs = scope.get("query_string", b"").decode("latin-1")
        return cls(
            method=scope["method"],
            path=unquote(scope["path"]),
            query=parse_qs(qs, keep_blank_values=True) if qs else {},
            headers=headers,
            receive=receive,
            scope=scope,
        )

    def arg(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[0] if v else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("true", "1")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    async def body(self, limit: int = MAX_BODY) -> bytes:
        if self._body is not None:
            return self._body
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestEntityTooLarge(f"Request entity too large: limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                break
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge(f"Request entity too large: limit is {limit}")
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        self._body = b"".join(chunks)
        return self._body


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None  # chunked body (watch, follow logs)

    async def send(self, send: Send, receive: Receive | None = None) -> None:
        headers = [(b"content-type", self.content_type), *self.headers]
        if self.stream is None:
            headers.append((b"content-length", str(len(self.body)).encode()))
            await send({"type": "http.response.start", "status": self.status, "headers": headers})
            await send({"type": "http.response.body", "body": self.body})
            return
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await _stream(self.stream, send, receive)


async def _stream(chunks: AsyncIterator[bytes], send: Send, receive: Receive | None) -> None:
    """Copy chunks to the client until the iterator ends or the client goes away.

    A chunk costs one `await` of the iterator and one of `send`: no task and no `wait` per
    chunk, since fanning one event out to a thousand watchers pays that a thousand times.
    The client going away is noticed by one waiter per stream, which cancels this task only
    while it is inside the copy loop; the cancellation is then absorbed here."""
    import asyncio

    task = asyncio.current_task()
    assert task is not None
    copying = gone = False

    async def watch_disconnect() -> None:
        nonlocal gone
        assert receive is not None
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        if copying:
            task.cancel()

    watcher = asyncio.ensure_future(watch_disconnect()) if receive is not None else None
    it = chunks.__aiter__()
    try:
        copying = True
        try:
            async for chunk in it:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
        except OSError:
            gone = True
        finally:
            copying = False
        if not gone:
            try:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                pass
    finally:
        if watcher is not None:
            watcher.cancel()
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except RuntimeError:
                pass


def json_response(obj: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), headers=headers or [])


def raw_response(body: bytes, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, body, headers=headers or [])


def error_response(err: StatusError) -> Response:
    headers = [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    return Response(err.code, orjson.dumps(err.status()), headers=headers)
