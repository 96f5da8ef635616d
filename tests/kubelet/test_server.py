"""The kubelet server against real containers: logs (tail, timestamps, since, previous,
follow to the container's exit), exec over the v5 channel protocol (exit codes, stdin, a
terminal), port-forward over SPDY-in-WebSocket into the pod's network namespace, and
authentication.  Each test runs its own runtime and server and leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from urllib.parse import urlencode

import aiohttp
import pytest

from apimachinery import spdy
from kubelet.images import ImageStore
from kubelet.runtime import ContainerSpec, Runtime
from kubelet.server import KubeletServer, token_authenticator

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
                       reason="needs root and busybox-static"),
]

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def image_store(tmp_path_factory) -> ImageStore:
    store = ImageStore(str(tmp_path_factory.mktemp("images")))
    store.ensure_busybox()
    return store


@pytest.fixture
async def rt(tmp_path, image_store):
    r = Runtime(str(tmp_path / "node"), images=image_store, name=f"mizzen-test-{secrets.token_hex(4)}")
    await r.start()
    try:
        yield r
    finally:
        try:
            await r.cleanup_all()
        finally:
            await r.close()
        assert not r.cgroups.exists("")


@pytest.fixture
async def kubelet(rt):
    srv = KubeletServer(rt, authenticate=token_authenticator(TOKEN))
    port = await srv.start()
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await srv.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
        yield s


async def start(rt: Runtime, script: str, name: str = "c", attempt: int = 0, netns: str | None = None,
                pod: str = "web", uid: str = "uid-1") -> str:
    h = await rt.start_container(ContainerSpec(pod_uid=uid, pod_name=pod, namespace="default", name=name,
                                               image="busybox", command=["sh", "-c", script], attempt=attempt,
                                               netns_path=netns))
    return h.id


async def get_logs(http: aiohttp.ClientSession, base: str, query: str = "", container: str = "c") -> tuple[int, str]:
    async with http.get(f"{base}/containerLogs/default/web/{container}?{query}", ssl=False) as r:
        return r.status, await r.text()


async def until_logged(http, base: str, text: str) -> None:
    for _ in range(200):
        if text in (await get_logs(http, base))[1]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never logged")


async def test_healthz_open_everything_else_needs_the_token(kubelet) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{kubelet}/healthz", ssl=False) as r:
            assert (r.status, await r.text()) == (200, "ok")
        async with s.get(f"{kubelet}/containerLogs/default/web/c", ssl=False) as r:
            assert r.status == 401
        async with s.get(f"{kubelet}/containerLogs/default/web/c", ssl=False,
                         headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401


async def test_logs_tail_timestamps_since_and_missing(rt, kubelet, http) -> None:
    cid = await start(rt, "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; printf last")
    await rt.wait_container(cid, 20)
    status, text = await get_logs(http, kubelet)
    assert status == 200
    assert text == "line1\nline2\nline3\nline4\nline5\noops\nlast\n"
    assert (await get_logs(http, kubelet, "tailLines=2"))[1] == "oops\nlast\n"
    stamped = (await get_logs(http, kubelet, "timestamps=true&tailLines=1"))[1].splitlines()
    assert stamped[0].endswith("Z last") and stamped[0][:4].isdigit()
    assert (await get_logs(http, kubelet, "sinceTime=2999-01-01T00:00:00Z"))[1] == ""
    assert (await get_logs(http, kubelet, "sinceSeconds=3600"))[1].startswith("line1\n")
    assert (await get_logs(http, kubelet, "limitBytes=8"))[1] == "line1\nli"
    status, body = await get_logs(http, kubelet, container="nope")
    assert status == 400 and json.loads(body)["message"] == 'container "nope" in pod "web" is not available'
    status, body = await get_logs(http, kubelet, "previous=true")
    assert status == 400 and "previous terminated container" in json.loads(body)["message"]
    assert (await get_logs(http, kubelet, "tailLines=x"))[0] == 400


async def test_logs_previous_and_follow_until_exit(rt, kubelet, http) -> None:
    first = await start(rt, "echo first run; exit 1")
    await rt.wait_container(first, 20)
    await start(rt, "echo second run; read x; echo after input", attempt=1)
    assert (await get_logs(http, kubelet, "previous=true"))[1] == "first run\n"
    cid = (await rt.list_containers())[-1].id
    got = b""
    async with http.get(f"{kubelet}/containerLogs/default/web/c?follow=true", ssl=False) as r:
        async for chunk in r.content.iter_any():
            got += chunk
            if b"second run" in got and b"after" not in got:
                await rt.stop_container(cid, 1)  # the follow ends with the container
    assert got.startswith(b"second run\n")


async def ws_exec(base: str, http, command: list[str], stdin: bytes | None = None, tty: bool = False,
                  protocol: str = "v5.channel.k8s.io", size: tuple[int, int] | None = None
                  ) -> tuple[bytes, bytes, dict]:
    q = urlencode([("command", c) for c in command]) + "&output=1&error=1" + ("&input=1" if stdin is not None else "")
    q += "&tty=1" if tty else ""
    out, err, status = b"", b"", {}
    async with http.ws_connect(f"{base}/exec/default/web/c?{q}", ssl=False, protocols=[protocol]) as ws:
        assert ws.protocol == protocol
        if size is not None:   # what kubectl sends first: its terminal's size
            await ws.send_bytes(b"\x04" + json.dumps({"Width": size[1], "Height": size[0]}).encode())
        if stdin is not None:
            await ws.send_bytes(b"\x00" + stdin)
            if tty and size is None:
                await ws.send_bytes(b"\x04" + json.dumps({"Width": 100, "Height": 40}).encode())
            await ws.send_bytes(b"\xff\x00")
        async for m in ws:
            ch, data = m.data[0], m.data[1:]
            if ch == 1:
                out += data
            elif ch == 2:
                err += data
            elif ch == 3:
                status = json.loads(data)
        assert ws.close_code == 1000
    return out, err, status


async def test_exec_exit_codes_stdin_and_tty(rt, kubelet, http) -> None:
    await start(rt, "sleep 30")
    out, err, status = await ws_exec(kubelet, http, ["sh", "-c", "echo hi; echo bad >&2"])
    assert (out, err, status) == (b"hi\n", b"bad\n", {"metadata": {}, "status": "Success"})
    _, _, status = await ws_exec(kubelet, http, ["sh", "-c", "exit 3"], protocol="v4.channel.k8s.io")
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"] == ("command terminated with non-zero exit code: error executing command "
                                 "[sh -c exit 3], exit code 3")
    out, _, status = await ws_exec(kubelet, http, ["wc", "-c"], stdin=b"x" * 100000)
    assert out.strip() == b"100000" and status["status"] == "Success"
    out, _, status = await ws_exec(kubelet, http, ["sh", "-c", "tty; stty size"], stdin=b"", tty=True)
    assert b"/dev/pts/" in out and status["status"] == "Success"
    # the client's terminal size, sent first, is the terminal's before the command runs
    out, _, status = await ws_exec(kubelet, http, ["stty", "size"], stdin=b"", tty=True, size=(33, 101))
    assert out.split() == [b"33", b"101"] and status["status"] == "Success"
    _, _, status = await ws_exec(kubelet, http, ["no-such-binary"])
    assert status["status"] == "Failure"


class SpdyClient:
    """The client half of kubectl port-forward's SPDY session, for the test."""

    def __init__(self, ws) -> None:
        self.ws, self.codec = ws, spdy.HeaderCodec()
        self.parser = spdy.FrameParser(self.codec)
        self.next_id = 1

    async def open_pair(self, port: int, rid: str) -> tuple[int, int]:
        ids = []
        for kind in ("error", "data"):
            sid, self.next_id = self.next_id, self.next_id + 2
            await self.ws.send_bytes(spdy.syn_stream(self.codec, sid, {"streamtype": [kind], "port": [str(port)],
                                                                       "requestid": [rid]}))
            ids.append(sid)
        return ids[0], ids[1]

    async def frames(self):
        async for m in self.ws:
            for f in self.parser.feed(m.data):
                yield f


async def test_port_forward_into_the_pod_network(rt, kubelet, http) -> None:
    ns = await rt.create_pod_netns("uid-1")
    await start(rt, "mkdir /www; echo hello from the pod > /www/index.html; httpd -f -p 8080 -h /www",
                netns=ns)
    async with http.ws_connect(f"{kubelet}/portforward/default/web", ssl=False,
                               protocols=["SPDY/3.1+portforward.k8s.io"]) as ws:
        client = SpdyClient(ws)
        await ws.send_bytes(spdy.ping(1))
        body, replies, ping = b"", set(), None
        for attempt in range(100):   # httpd may not listen yet: each try is a new connection
            err_id, data_id = await client.open_pair(8080, str(attempt))
            await ws.send_bytes(spdy.data_frame(err_id, b"", fin=True))
            await ws.send_bytes(spdy.data_frame(data_id, b"GET / HTTP/1.0\r\n\r\n", fin=True))
            errors, ended = b"", set()
            async for f in client.frames():
                if f.type == spdy.SYN_REPLY:
                    replies.add(f.stream_id)
                elif f.type == spdy.PING:
                    ping = f.value
                elif f.type == 0:
                    if f.stream_id == data_id:
                        body += f.data
                    else:
                        errors += f.data
                    if f.fin:
                        ended.add(f.stream_id)
                    if ended == {err_id, data_id}:
                        break
            if not errors:
                break
            assert b"dial tcp4 127.0.0.1:8080: connect: connection refused" in errors
            await asyncio.sleep(0.05)
        assert {err_id, data_id} <= replies and ping == 1
        assert body.startswith(b"HTTP/1.") and body.endswith(b"hello from the pod\n")


async def test_attach_streams_output_until_the_container_exits(rt, kubelet, http) -> None:
    cid = await start(rt, "while true; do echo tick; sleep 0.1; done")
    out, status = b"", {}
    async with http.ws_connect(f"{kubelet}/attach/default/web/c?output=1&error=1", ssl=False,
                               protocols=["v5.channel.k8s.io"]) as ws:
        async for m in ws:
            ch, data = m.data[0], m.data[1:]
            if ch == 1:
                out += data
                if out.count(b"tick") == 2:
                    await rt.stop_container(cid, 1)
            elif ch == 3:
                status = json.loads(data)
    assert out.startswith(b"tick\ntick\n")
    assert status["status"] == "Failure" and status["details"]["causes"][0]["message"] == "137"


async def test_attach_to_a_tty_container_applies_resizes(rt, kubelet, http) -> None:
    """kubectl attach -t (kubectl run -it): the resize channel sets the container's terminal
    size, which the container sees (``stty size``)."""
    await rt.start_container(ContainerSpec(
        pod_uid="uid-1", pod_name="web", namespace="default", name="c", image="busybox", tty=True, stdin=True,
        command=["sh", "-c", "while true; do stty size; sleep 0.1; done"]))
    out = b""
    async with http.ws_connect(f"{kubelet}/attach/default/web/c?input=1&output=1&tty=1", ssl=False,
                               protocols=["v5.channel.k8s.io"]) as ws:
        await ws.send_bytes(b"\x04" + json.dumps({"Width": 101, "Height": 33}).encode())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):   # not a timing assertion: the size never comes otherwise
                async for m in ws:
                    if m.data[0] == 1:
                        out += m.data[1:]
                        if b"33 101" in out:
                            break
    assert b"33 101" in out


async def test_exec_refused_before_upgrade_when_not_running(rt, kubelet, http) -> None:
    cid = await start(rt, "exit 0")
    await rt.wait_container(cid, 20)
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await http.ws_connect(f"{kubelet}/exec/default/web/c?command=true&output=1", ssl=False,
                              protocols=["v5.channel.k8s.io"])
    assert e.value.status == 400
    async with http.get(f"{kubelet}/exec/default/web/c?command=true&output=1", ssl=False) as r:
        assert r.status == 400


async def test_stats_summary_reports_running_containers(rt, kubelet, http) -> None:
    await start(rt, "sleep 30", name="a")
    cid = await start(rt, "exit 0", name="b")
    await rt.wait_container(cid, 20)
    async with http.get(f"{kubelet}/stats/summary", ssl=False) as r:
        assert r.status == 200
        summary = await r.json()
    [pod] = summary["pods"]
    assert pod["podRef"] == {"name": "web", "namespace": "default", "uid": "uid-1"}
    assert [c["name"] for c in pod["containers"]] == ["a"]
    assert pod["containers"][0]["memory"]["usageBytes"] > 0
