"""Watch streams as a client sees them, through the API server's ASGI entry (no sockets):
timeoutSeconds ends the stream, bookmarks arrive when asked for, and a client that goes away
leaves no watch behind in the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from apiserver.app import APIServer, ServerConfig
from apiserver.storage.sqlite import SQLiteStore

TOKEN = "test-token"
BASE = "/api/v1/namespaces/default/configmaps"


class Stream:
    """One request: what the server sent, and a way to hang up."""

    def __init__(self) -> None:
        self.status = 0
        self.chunks: list[bytes] = []
        self.ended = asyncio.Event()
        self.got_chunk = asyncio.Event()
        self.hangup = asyncio.Event()

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in b"".join(self.chunks).splitlines() if line]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[APIServer]:
    store = SQLiteStore(tmp_path / "state.db")
    await store.start()
    server = APIServer(store, ServerConfig(tokens={TOKEN: {"username": "admin", "groups": ["system:masters"]}},
                                           bookmark_interval=0.2))
    await server.start()
    yield server
    await server.stop()
    await store.close()


async def call(api: APIServer, method: str, path: str, query: str = "", body: bytes = b"",
               stream: Stream | None = None) -> Stream:
    s = stream or Stream()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await s.hangup.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            s.status = message["status"]
        elif message["type"] == "http.response.body":
            if message.get("body"):
                s.chunks.append(message["body"])
                s.got_chunk.set()
            if not message.get("more_body"):
                s.ended.set()

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
             "headers": [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", b"application/json")]}
    await api(scope, receive, send)
    return s


async def create(api: APIServer, name: str) -> dict[str, Any]:
    s = await call(api, "POST", BASE, body=orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                           "metadata": {"name": name}}))
    assert s.status == 201
    obj: dict[str, Any] = orjson.loads(b"".join(s.chunks))
    return obj


async def test_timeout_seconds_ends_the_stream_after_delivering_events(api: APIServer) -> None:
    first = await create(api, "a")
    s = Stream()
    task = asyncio.create_task(call(api, "GET", BASE, f"watch=true&timeoutSeconds=1&resourceVersion="
                                    f"{first['metadata']['resourceVersion']}", stream=s))
    await create(api, "b")
    await asyncio.wait_for(s.ended.wait(), 10)
    await task
    assert s.status == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in s.events()] == [("ADDED", "b")]


async def test_bookmarks_arrive_only_when_asked_for(api: APIServer) -> None:
    obj = await create(api, "a")
    rv = obj["metadata"]["resourceVersion"]
    with_marks, without = Stream(), Stream()
    tasks = [asyncio.create_task(call(api, "GET", BASE, f"watch=true&timeoutSeconds=1&resourceVersion={rv}"
                                      "&allowWatchBookmarks=true", stream=with_marks)),
             asyncio.create_task(call(api, "GET", BASE, f"watch=true&timeoutSeconds=1&resourceVersion={rv}",
                                      stream=without))]
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    marks = with_marks.events()
    assert marks and all(e["type"] == "BOOKMARK" for e in marks)
    assert marks[0]["object"]["kind"] == "ConfigMap"
    assert int(marks[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    assert without.events() == []


async def test_a_client_that_hangs_up_leaves_no_watch_behind(api: APIServer) -> None:
    store = api.store
    before = store.stats["watchers"]
    streams = [Stream() for _ in range(20)]
    tasks = [asyncio.create_task(call(api, "GET", BASE, "watch=true&resourceVersion=0", stream=s)) for s in streams]
    await create(api, "a")
    await asyncio.wait_for(asyncio.gather(*(s.got_chunk.wait() for s in streams)), 10)
    assert store.stats["watchers"] == before + 20
    for s in streams:
        s.hangup.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)  # every request returns
    assert store.stats["watchers"] == before
    await create(api, "b")  # and the store fans out to nobody
    assert all([e["object"]["metadata"]["name"] for e in s.events()] == ["a"] for s in streams)
