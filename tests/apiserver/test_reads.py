"""Requests as a client sees them, through the API server's ASGI entry (no sockets): watch
streams (timeoutSeconds, bookmarks, clients that hang up), lists (paginated lists are one
snapshot, resourceVersionMatch=Exact, continue tokens older than the retained history) and
generated names that collide."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from apiserver.app import APIServer, ServerConfig
from apiserver.storage.sqlite import SQLiteStore
from mizzen.testing import asgi_request, sqlite_writers

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
               stream: Stream | None = None, content_type: bytes = b"application/json") -> Stream:
    s = stream or Stream()

    def on_message(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            s.status = message["status"]
        elif message["type"] == "http.response.body":
            if message.get("body"):
                s.chunks.append(message["body"])
                s.got_chunk.set()
            if not message.get("more_body"):
                s.ended.set()

    await asgi_request(api, method, path, query=query.encode(), body=body, on_message=on_message, hangup=s.hangup,
                       headers=[(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", content_type)])
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


def names(s: Stream) -> list[str]:
    body = orjson.loads(b"".join(s.chunks))
    return [i["metadata"]["name"] for i in body["items"]]


async def test_pages_of_a_list_are_one_snapshot(api: APIServer) -> None:
    for n in ("a", "b", "c", "d"):
        await create(api, n)
    first = await call(api, "GET", BASE, "limit=2")
    head = orjson.loads(b"".join(first.chunks))["metadata"]
    assert names(first) == ["a", "b"] and head["remainingItemCount"] == 2
    # Changes after the first page: c deleted, e created, d modified.
    assert (await call(api, "DELETE", BASE + "/c")).status == 200
    await create(api, "e")
    patched = await call(api, "PATCH", BASE + "/d", body=b'{"data":{"x":"1"}}',
                         content_type=b"application/merge-patch+json")
    assert patched.status == 200
    rest = await call(api, "GET", BASE, "limit=5&continue=" + head["continue"])
    body = orjson.loads(b"".join(rest.chunks))
    assert [(i["metadata"]["name"], i.get("data")) for i in body["items"]] == [("c", None), ("d", None)]
    assert body["metadata"]["resourceVersion"] == head["resourceVersion"]
    now = await call(api, "GET", BASE)
    assert names(now) == ["a", "b", "d", "e"]


async def test_exact_resource_version_lists_the_past(api: APIServer) -> None:
    a = await create(api, "a")
    await create(api, "b")
    assert (await call(api, "DELETE", BASE + "/a")).status == 200
    rv = a["metadata"]["resourceVersion"]
    then = await call(api, "GET", BASE, f"resourceVersion={rv}&resourceVersionMatch=Exact")
    assert then.status == 200 and names(then) == ["a"]
    assert orjson.loads(b"".join(then.chunks))["metadata"]["resourceVersion"] == rv
    newer = await call(api, "GET", BASE, f"resourceVersion={rv}&resourceVersionMatch=NotOlderThan")
    assert names(newer) == ["b"]
    legacy = await call(api, "GET", BASE, f"resourceVersion={rv}&limit=10")  # a limit makes it Exact
    assert names(legacy) == ["a"]


async def test_compacted_revisions_answer_410_and_an_inconsistent_continue(api: APIServer) -> None:
    for n in ("a", "b", "c"):
        old = await create(api, n)
    first = await call(api, "GET", BASE, "limit=1")
    token = orjson.loads(b"".join(first.chunks))["metadata"]["continue"]
    await create(api, "d")
    await api.store.compact(0)  # keep no history
    expired = await call(api, "GET", BASE, "limit=10&continue=" + token)
    status = orjson.loads(b"".join(expired.chunks))
    assert expired.status == 410 and status["reason"] == "Expired"
    assert status["message"].startswith("The provided continue parameter is too old to display a consistent list")
    rest = await call(api, "GET", BASE, "limit=10&continue=" + status["metadata"]["continue"])
    assert rest.status == 200 and names(rest) == ["b", "c", "d"]  # the rest, as it is now
    exact = await call(api, "GET", BASE, f"resourceVersion={old['metadata']['resourceVersion']}"
                       "&resourceVersionMatch=Exact")
    assert exact.status == 410
    assert orjson.loads(b"".join(exact.chunks))["message"] == "The resourceVersion for the provided list is too old."


async def test_a_taken_generated_name_is_generated_again(api: APIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from apiserver import objects
    await create(api, "web-aaaaa")
    names = iter(["aaaaa", "aaaaa", "bbbbb"])  # the first two collide
    monkeypatch.setattr(objects, "generate_name", lambda prefix: prefix + next(names))
    body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "web-"}})
    s = await call(api, "POST", BASE, body=body)
    assert s.status == 201 and orjson.loads(b"".join(s.chunks))["metadata"]["name"] == "web-bbbbb"
    monkeypatch.setattr(objects, "generate_name", lambda prefix: prefix + "aaaaa")  # always taken
    s = await call(api, "POST", BASE, body=body)
    status = orjson.loads(b"".join(s.chunks))
    assert (s.status, status["reason"]) == (500, "ServerTimeout")
    assert status["message"] == ("The POST operation against ConfigMap could not be completed at this time, "
                                 "please try again.")
    named = await call(api, "POST", BASE, body=orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                              "metadata": {"name": "web-aaaaa"}}))
    assert named.status == 409  # a name the client chose is not changed


async def test_health_checks_report_the_store_as_kube_apiserver_reports_etcd(api: APIServer) -> None:
    """kube-apiserver's format; a store that cannot write any more fails /livez (so that a
    supervisor restarts the server) and /readyz, as an unreachable etcd does."""
    s = await call(api, "GET", "/livez", query="verbose")
    assert s.status == 200 and b"".join(s.chunks) == b"[+]ping ok\n[+]etcd ok\nlivez check passed\n"
    [writer] = sqlite_writers(os.getpid())
    os.kill(writer, signal.SIGKILL)
    async with asyncio.timeout(30):  # hang guard: the loop notices the end of its pipe
        while api.store.failure() is None:
            await asyncio.sleep(0.01)
    s = await call(api, "GET", "/livez")
    assert s.status == 500
    assert b"".join(s.chunks) == b"[+]ping ok\n[-]etcd failed: reason withheld\nlivez check failed\n"
    s = await call(api, "GET", "/readyz", query="verbose")
    assert s.status == 500 and b"[-]etcd failed: reason withheld\n" in b"".join(s.chunks)
