"""Transport-level behaviour of the REST client and the informer against a small FAKE
aiohttp server on 127.0.0.1 (scripted answers: retries, Retry-After, chunked watch streams,
410 Gone, dropped connections), things a real API server cannot be made to do on demand.
Behaviour against the real mizzen API server is in test_client_rest.py / test_informer.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from apimachinery import errors
from apimachinery.client.informer import Informer
from apimachinery.client.rest import ApiClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeServer:
    """Answers each request with the next scripted handler for its (method, path); records
    every request (method, path, query, headers, body)."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str], list[Handler]] = {}
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self.closing = asyncio.Event()  # set at teardown: hanging watch handlers return

    def on(self, method: str, path: str, *handlers: Handler) -> None:
        self.script.setdefault((method, path), []).extend(handlers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query),
                              "headers": dict(request.headers), "body": body})
        handlers = self.script.get((request.method, request.path))
        if not handlers:
            return web.json_response(status(404, "NotFound", "no script"), status=404)
        handler = handlers.pop(0) if len(handlers) > 1 else handlers[0]
        return await handler(request)

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]


FAKE = web.AppKey("fake", FakeServer)


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def reply(body: Any, code: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def h(_: web.Request) -> web.StreamResponse:
        return web.Response(body=orjson.dumps(body), status=code, content_type="application/json",
                            headers=headers)
    return h


def text(body: str, code: int) -> Handler:
    async def h(_: web.Request) -> web.StreamResponse:
        return web.Response(text=body, status=code)
    return h


def stream(chunks: list[bytes], *, hang: bool = False, abort: bool = False) -> Handler:
    """A watch response sent in the given chunks; then end, hang (until cancelled) or drop."""
    async def h(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for c in chunks:
            await resp.write(c)
            await asyncio.sleep(0.001)
        if hang:
            await request.app[FAKE].closing.wait()
        if abort:
            assert request.transport is not None
            request.transport.abort()
            return resp
        await resp.write_eof()
        return resp
    return h


def event(type_: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": type_, "object": obj}) + b"\n"


def cm(name: str, rv: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, "data": data}


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = FakeServer()
    app = web.Application()
    app[FAKE] = server
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    server.closing.set()
    await runner.cleanup()


@pytest.fixture
async def api(fake: FakeServer) -> AsyncIterator[ApiClient]:
    async with ApiClient(server=fake.url, token="secret-token", max_retries=3) as client:
        yield client


CM_PATH = "/api/v1/namespaces/ns/configmaps"


# -- errors and retries -----------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "error_type", "code"), [
    (reply(status(404, "NotFound", 'configmaps "x" not found'), 404), errors.NotFound, 404),
    (reply(status(409, "Conflict", "the object has been modified"), 409), errors.Conflict, 409),
    (reply(status(422, "Invalid", 'ConfigMap "x" is invalid'), 422), errors.Invalid, 422),
    (reply(status(410, "Expired", "too old resource version"), 410), errors.Gone, 410),
    (reply(status(403, "Forbidden", "no"), 403), errors.Forbidden, 403),
    (text("404 page not found", 404), errors.NotFound, 404),  # not a Status: typed by its code
    (text("<html>bad gateway</html>", 502), errors.StatusError, 502),
])
async def test_errors_are_typed_from_status(fake: FakeServer, api: ApiClient, answer: Handler,
                                            error_type: type, code: int) -> None:
    fake.on("GET", CM_PATH + "/x", answer)
    with pytest.raises(error_type) as info:
        await api.get("configmaps", "x", "ns")
    assert info.value.code == code
    assert isinstance(info.value, errors.StatusError)


async def test_429_is_retried_after_retry_after_even_for_post(fake: FakeServer, api: ApiClient) -> None:
    fake.on("POST", CM_PATH, reply(status(429, "TooManyRequests", "slow down"), 429, {"Retry-After": "0"}),
            reply(status(429, "TooManyRequests", "slow down"), 429, {"Retry-After": "0"}), reply(cm("a", "1"), 201))
    created = await api.create("configmaps", cm("a", ""), "ns")
    assert created["metadata"]["name"] == "a"
    assert len(fake.calls("POST", CM_PATH)) == 3


async def test_5xx_is_retried_for_get_but_not_for_post(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH + "/a", reply(status(503, "ServiceUnavailable", "x"), 503, {"Retry-After": "0"}),
            reply(cm("a", "1")))
    assert (await api.get("configmaps", "a", "ns"))["metadata"]["name"] == "a"
    fake.on("POST", CM_PATH, reply(status(500, "InternalError", "Internal error occurred: x"), 500))
    with pytest.raises(errors.InternalError):
        await api.create("configmaps", cm("a", ""), "ns")
    assert len(fake.calls("POST", CM_PATH)) == 1


async def test_retries_are_bounded(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH + "/a", reply(status(503, "ServiceUnavailable", "down"), 503, {"Retry-After": "0"}))
    with pytest.raises(errors.StatusError) as info:
        await api.get("configmaps", "a", "ns")
    assert info.value.code == 503 and info.value.headers["Retry-After"] == "0"
    assert len(fake.calls("GET", CM_PATH + "/a")) == 4  # 1 + max_retries


async def test_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with ApiClient(server=f"http://127.0.0.1:{port}", max_retries=1) as client:
        with pytest.raises(aiohttp.ClientConnectorError):
            await client.get("configmaps", "a", "ns")


# -- what goes on the wire --------------------------------------------------------------------------


async def test_requests_carry_token_params_and_bodies_like_kubectl(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH, reply({"kind": "ConfigMapList", "metadata": {"resourceVersion": "5"}, "items": []}))
    fake.on("PATCH", CM_PATH + "/a", reply(cm("a", "2")))
    fake.on("DELETE", CM_PATH + "/a", reply(status(200, "", "")))
    fake.on("PUT", "/apis/apps/v1/namespaces/ns/deployments/web/status", reply({}))
    fake.on("POST", "/api/v1/namespaces/ns/pods/p/binding", reply({}, 201))
    await api.list("configmaps", "ns", label_selector="app=web", field_selector="metadata.name=a", limit=10,
                   continue_="tok")
    await api.patch("configmaps", "a", {"data": {"k": "v"}}, namespace="ns", patch_type="strategic")
    await api.patch("configmaps", "a", [{"op": "remove", "path": "/data"}], namespace="ns", patch_type="json")
    await api.patch("configmaps", "a", cm("a", ""), namespace="ns", patch_type="apply", field_manager="me",
                    force=True)
    await api.delete("configmaps", "a", "ns", propagation_policy="Foreground", grace_period_seconds=0,
                     preconditions={"uid": "u1"})
    await api.update_status("deployments", {"metadata": {"name": "web", "namespace": "ns"}, "status": {}})
    await api.create("pods", {"kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n"}},
                     "ns", subresource="binding")
    r = fake.requests
    assert r[0]["headers"]["Authorization"] == "Bearer secret-token"
    assert r[0]["query"] == {"labelSelector": "app=web", "fieldSelector": "metadata.name=a", "limit": "10",
                             "continue": "tok"}
    assert [x["headers"]["Content-Type"] for x in r[1:4]] == [
        "application/strategic-merge-patch+json", "application/json-patch+json", "application/apply-patch+yaml"]
    assert r[3]["query"] == {"fieldManager": "me", "force": "true"}
    assert orjson.loads(r[4]["body"]) == {"kind": "DeleteOptions", "apiVersion": "v1",
                                          "propagationPolicy": "Foreground", "gracePeriodSeconds": 0,
                                          "preconditions": {"uid": "u1"}}
    assert r[5]["method"] == "PUT" and r[5]["path"].endswith("/deployments/web/status")
    assert r[6]["path"] == "/api/v1/namespaces/ns/pods/p/binding"


async def test_unknown_resource_name_is_refused(api: ApiClient) -> None:
    with pytest.raises(ValueError, match="doesn't have a resource type"):
        await api.get("widgets", "a")


# -- watch streams ----------------------------------------------------------------------------------


async def test_watch_reassembles_events_split_across_chunks(fake: FakeServer, api: ApiClient) -> None:
    big = cm("big", "3", blob="x" * 200_000)  # larger than aiohttp's default line limit
    payload = event("ADDED", cm("a", "1")) + event("BOOKMARK", {"kind": "ConfigMap",
                                                                "metadata": {"resourceVersion": "2"}})
    payload += event("MODIFIED", big) + event("DELETED", cm("a", "4"))
    chunks = [payload[i:i + 777] for i in range(0, len(payload), 777)]
    fake.on("GET", CM_PATH, stream(chunks))
    seen = [(t, o["metadata"].get("name"), o["metadata"]["resourceVersion"])
            async for t, o in api.watch("configmaps", "ns", resource_version="0", timeout_seconds=30)]
    assert seen == [("ADDED", "a", "1"), ("BOOKMARK", None, "2"), ("MODIFIED", "big", "3"), ("DELETED", "a", "4")]
    q = fake.calls("GET", CM_PATH)[0]["query"]
    assert q == {"watch": "true", "resourceVersion": "0", "timeoutSeconds": "30", "allowWatchBookmarks": "true"}


async def test_watch_error_event_raises_gone(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH, stream([event("ADDED", cm("a", "7")),
                                    event("ERROR", status(410, "Expired", "too old resource version: 1 (7)"))]))
    seen = []
    with pytest.raises(errors.Gone, match="too old resource version"):
        async for t, _ in api.watch("configmaps", "ns", resource_version="1"):
            seen.append(t)
    assert seen == ["ADDED"]


# -- informer: re-list on 410, re-watch after a dropped connection ----------------------------------


def list_of(*items: dict[str, Any], rv: str) -> Handler:
    return reply({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": rv},
                  "items": [{k: v for k, v in i.items() if k not in ("kind", "apiVersion")} for i in items]})


def recorder(informer: Informer) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    informer.add_handler(
        on_add=lambda o: seen.append(("add", o["metadata"]["name"], o["metadata"]["resourceVersion"])),
        on_update=lambda old, new: seen.append(("update", new["metadata"]["name"], new["metadata"]["resourceVersion"])),
        on_delete=lambda o: seen.append(("delete", o["metadata"]["name"], o["metadata"]["resourceVersion"])),
    )
    return seen


async def wait_until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def test_informer_relists_on_410_and_emits_the_difference(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH,
            list_of(cm("a", "10"), cm("b", "10"), cm("same", "9"), rv="10"),
            stream([event("ERROR", status(410, "Expired", "too old resource version"))]),
            list_of(cm("b", "12", k="v"), cm("c", "11"), cm("same", "9"), rv="12"),
            stream([], hang=True))
    inf = Informer(api, "configmaps", "ns", page_size=2)
    seen = recorder(inf)
    inf.start()
    try:
        await wait_until(lambda: inf.lists == 2 and len(seen) == 6)
    finally:
        await inf.stop()
    assert seen[:3] == [("add", "a", "10"), ("add", "b", "10"), ("add", "same", "9")]
    assert sorted(seen[3:]) == [("add", "c", "11"), ("delete", "a", "10"), ("update", "b", "12")]
    assert sorted(inf.store.keys()) == ["ns/b", "ns/c", "ns/same"]
    assert inf.store.get("ns/c")["kind"] == "ConfigMap"  # list items get their kind back
    lists = [r for r in fake.calls("GET", CM_PATH) if "watch" not in r["query"]]
    assert lists[0]["query"] == {"limit": "2"}


async def test_informer_rewatches_from_last_seen_version_after_a_drop(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH,
            list_of(cm("a", "10"), rv="10"),
            stream([event("MODIFIED", cm("a", "11"))], abort=True),  # connection lost mid-stream
            stream([event("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": "15"}})]),  # ends
            stream([event("ADDED", cm("b", "16"))], hang=True))
    inf = Informer(api, "configmaps", "ns")
    seen = recorder(inf)
    inf.start()
    try:
        await wait_until(lambda: len(seen) == 3)
    finally:
        await inf.stop()
    assert seen == [("add", "a", "10"), ("update", "a", "11"), ("add", "b", "16")]
    watches = [r["query"]["resourceVersion"] for r in fake.calls("GET", CM_PATH) if "watch" in r["query"]]
    assert watches == ["10", "11", "15"]
    assert inf.lists == 1  # no re-list needed


async def test_informer_survives_handler_errors(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH, list_of(cm("a", "1"), cm("b", "1"), rv="1"), stream([], hang=True))
    inf = Informer(api, "configmaps", "ns")

    def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    inf.add_handler(on_add=broken)
    seen = recorder(inf)
    inf.start()
    try:
        assert await inf.wait_synced(5)
    finally:
        await inf.stop()
    assert [s[1] for s in seen] == ["a", "b"]


async def test_stop_closes_the_watch(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH, list_of(rv="1"), stream([], hang=True))
    inf = Informer(api, "configmaps", "ns")
    inf.start()
    assert await inf.wait_synced(5)
    await wait_until(lambda: len(fake.requests) == 2)
    await inf.stop()
    with contextlib.suppress(asyncio.CancelledError):
        assert inf._task is None


async def test_resync_redelivers_cached_objects_as_updates(fake: FakeServer, api: ApiClient) -> None:
    fake.on("GET", CM_PATH, list_of(cm("a", "1"), rv="1"), stream([], hang=True))
    inf = Informer(api, "configmaps", "ns", resync=0.01)
    seen = recorder(inf)
    inf.start()
    try:
        await wait_until(lambda: ("update", "a", "1") in seen)
    finally:
        await inf.stop()
    assert seen[0] == ("add", "a", "1")


async def test_requests_carry_the_trace_context_of_the_current_span(fake: FakeServer, api: ApiClient) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    fake.on("GET", CM_PATH + "/a", reply(cm("a", "1")))
    with tracer.start_as_current_span("reconcile test") as span:
        await api.get("configmaps", "a", "ns")
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert fake.requests[0]["headers"]["traceparent"].split("-")[1] == trace_id


async def test_transform_applies_to_listed_and_watched_objects(fake: FakeServer, api: ApiClient) -> None:
    from apimachinery.client.informer import strip_managed_fields

    def with_mf(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
        return obj

    fake.on("GET", CM_PATH, list_of(with_mf(cm("a", "1")), rv="1"),
            stream([event("ADDED", with_mf(cm("b", "2")))], hang=True))
    inf = Informer(api, "configmaps", "ns", transform=strip_managed_fields)
    inf.start()
    try:
        await wait_until(lambda: "ns/b" in inf.store)
    finally:
        await inf.stop()
    assert all("managedFields" not in o["metadata"] for o in inf.store.list())


async def test_open_watches_do_not_take_the_connections_of_requests(fake: FakeServer) -> None:
    # A process with more informers than request connections must still get its requests
    # through: each watch holds a connection for minutes.
    fake.on("GET", CM_PATH, *[stream([], hang=True) for _ in range(3)])
    fake.on("GET", CM_PATH + "/x", reply(cm("x", "5")))
    async with ApiClient(server=fake.url, max_connections=2) as client:
        watches = [Informer(client, "configmaps", "ns") for _ in range(3)]
        tasks = [asyncio.ensure_future(w._watch()) for w in watches]
        await wait_until(lambda: len(fake.calls("GET", CM_PATH)) == 3)
        try:
            got = await asyncio.wait_for(client.get("configmaps", "x", "ns"), 10)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert got["metadata"]["name"] == "x"
