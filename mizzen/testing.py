"""Run a real mizzen cluster from tests: `mizzen up` in a subprocess on port 0 in a fresh
data directory, and the real `kubectl` pointed at it with a fresh HOME (kubectl caches
discovery under $HOME/.kube/cache, which would hide newly served kinds).

    with Cluster.start(tmp_path) as c:
        c.kubectl("apply", "-f", "deploy.yaml")

Stopping sends SIGTERM and waits; a cluster that does not stop in time is killed (by PID:
only the process this harness started).

Also the in-process stand-ins that tests and benchmarks share (one copy each):
`stand_in_binder` (binds pending pods without a scheduler), `asgi_request` (one request to
the API server's ASGI entry, no socket), `BackgroundLoop` (an event loop of its own on a
thread, for a component a synchronous test drives) and `AgentNode` (a real kubelet agent and
its kubelet server on such a loop). They are test scaffolding: nothing under mizzen/ other
than tests and benchmarks may use them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KUBECTL = os.environ.get("KUBECTL", "kubectl")


def process_cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds a process and its live descendants have used, all their
    threads included (from /proc's stat): an API server's with its SQLite writer process's.
    0 for a process that is gone."""
    total = 0.0
    todo = [str(pid)]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += (task / "children").read_text().split()
        except (OSError, ValueError, IndexError):
            continue
    return total


def sqlite_writers(pid: int) -> list[int]:
    """The SQLite writer processes (apiserver.storage._writer) among pid's children."""
    children = [c for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    return [int(c) for c in children if b"_writer.py" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(entries: list[tuple[str, bytes | None, int]]) -> bytes:
    """(name, content or None for a directory, mode) -> uncompressed tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            if data is None:
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def docker_save_archive(path: str, tag: str, layers: list[bytes], config_extra: dict | None = None) -> str:
    """Write a ``docker save``-style tarball; return the image ID."""
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/usr/bin:/bin", "GREETING=hello"],
                         "Cmd": ["sh", "-c", "echo $GREETING; ls /data; ls /opq; pwd"],
                         "WorkingDir": "/data", "ExposedPorts": {"8080/tcp": {}}, **(config_extra or {})},
              "rootfs": {"type": "layers", "diff_ids": [_sha(x) for x in layers]}}
    config_bytes = json.dumps(config).encode()
    image_id = _sha(config_bytes)
    members: list[tuple[str, bytes | None, int]] = [(f"{image_id[7:]}.json", config_bytes, 0o644)]
    names = []
    for i, layer in enumerate(layers):
        members.append((f"l{i}", None, 0o755))
        members.append((f"l{i}/layer.tar", layer, 0o644))
        names.append(f"l{i}/layer.tar")
    manifest = [{"Config": f"{image_id[7:]}.json", "RepoTags": [tag], "Layers": names}]
    members.append(("manifest.json", json.dumps(manifest).encode(), 0o644))
    with open(path, "wb") as f:
        f.write(tar_bytes(members))
    return image_id


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


class CommandFailed(AssertionError):
    pass


@dataclass
class Cluster:
    data_dir: Path
    home: Path
    proc: subprocess.Popen[str]
    kubeconfig: Path
    server: str
    output: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def start(cls, tmp: Path, *args: str, command: str = "up", timeout: float = 60.0) -> Iterator[Cluster]:
        c = cls.launch(tmp, *args, command=command, timeout=timeout)
        try:
            yield c
        finally:
            c.stop()

    @classmethod
    def launch(cls, tmp: Path, *args: str, command: str = "up", timeout: float = 60.0,
               data_dir: Path | None = None) -> Cluster:
        data_dir = data_dir or tmp / "data"
        home = tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "mizzen.cli", command, "--data-dir", str(data_dir), "--port", "0", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "HOME": str(home)})
        lines: list[str] = []
        kubeconfig = server = ""
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            if not line:
                proc.wait(5)
                raise RuntimeError(f"mizzen {command} exited ({proc.returncode}) before ready:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("kubeconfig: "):
                kubeconfig = line.split(": ", 1)[1].strip()
            elif line.startswith("server: "):
                server = line.split(": ", 1)[1].strip()
            elif line.strip() == "ready":
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("mizzen did not become ready:\n" + "".join(lines))
        c = cls(data_dir, home, proc, Path(kubeconfig), server, lines)
        threading.Thread(target=c._drain, daemon=True).start()
        return c

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.home)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0,
                env: dict[str, str] | None = None) -> Result:
        p = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, timeout=timeout,
                           env={**self.env, **(env or {})})
        r = Result(p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise CommandFailed(f"kubectl {' '.join(args)} failed: {r}")
        return r

    def kubectl_bg(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([KUBECTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)

    def wait_for(self, check, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        """kill -9: for crash tests."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


# -- in-process stand-ins ------------------------------------------------------------------------


def _required_node(pod: dict[str, Any]) -> str | None:
    """The node a DaemonSet pod's required node affinity names (`matchFields` on
    `metadata.name`), if any."""
    req = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    target = None
    for term in req.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("values"):
                target = f["values"][0]
    return target


async def stand_in_binder(client: Any, nodes: list[str], stop: asyncio.Event, *, concurrency: int = 50) -> None:
    """Not a scheduler: binds each pending pod once, to the node its required affinity names
    (DaemonSet pods) or round-robin over `nodes`, until `stop` is set. `client` is an
    `ApiClient` (give it its own, as a real scheduler has). At most `concurrency` bindings
    are in flight; a binding refused for another reason than "already bound" or "gone" is
    tried again at the pod's next change."""
    from apimachinery.client import Informer
    from apimachinery.errors import StatusError

    inf = Informer(client, "pods")
    tried: set[str] = set()  # uids of pods whose binding was sent
    sem = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    turn = 0

    async def bind(pod: dict[str, Any], uid: str, target: str) -> None:
        meta = pod["metadata"]
        async with sem:
            try:
                await client.create("pods", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                                             "target": {"apiVersion": "v1", "kind": "Node", "name": target}},
                                    meta["namespace"], subresource="binding")
            except StatusError as e:
                if e.code not in (404, 409):
                    tried.discard(uid)

    def consider(pod: dict[str, Any]) -> None:
        nonlocal turn
        meta = pod.get("metadata") or {}
        uid = meta.get("uid", "")
        if (pod.get("spec") or {}).get("nodeName") or meta.get("deletionTimestamp") or uid in tried:
            return
        tried.add(uid)
        target = _required_node(pod)
        if target is None:
            target = nodes[turn % len(nodes)]
            turn += 1
        task = asyncio.ensure_future(bind(pod, uid, target))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    inf.add_handler(on_add=consider, on_update=lambda old, new: consider(new),
                    on_delete=lambda pod: tried.discard((pod.get("metadata") or {}).get("uid", "")))
    inf.start()
    try:
        await stop.wait()
    finally:
        await inf.stop()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def asgi_request(app: Callable[..., Awaitable[None]], method: str, path: str, *,
                       headers: list[tuple[bytes, bytes]], body: bytes = b"", query: bytes = b"",
                       on_message: Callable[[dict[str, Any]], None] = lambda _m: None,
                       hangup: asyncio.Event | None = None) -> None:
    """One HTTP request to an ASGI `app` in this process: `body` at once, then a disconnect
    once `hangup` is set (never without one); every message the app sends goes to
    `on_message`. Returns when the app's handler returns."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await (hangup or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        on_message(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers}
    await app(scope, receive, send)


class BackgroundLoop:
    """Runs `main(stop)` on an event loop of its own in a daemon thread. `start()` returns
    once `main` called `self.ready.set()` (or failed); `stop()` sets `stop` and joins; both
    re-raise, in the caller's thread, what failed in the loop's; `call()` runs a coroutine on
    the loop and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def main(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def run() -> None:
            self._stop = asyncio.Event()
            await self.main(self._stop)
        try:
            self.loop.run_until_complete(run())
        except BaseException as e:  # noqa: BLE001 - re-raised by start()/stop() in the caller's thread
            self.error = e
            self.ready.set()

    def start(self) -> None:
        self._thread.start()
        started = self.ready.wait(60)
        if self.error is not None:
            raise self.error
        if not started:
            raise RuntimeError(f"{type(self).__name__} did not start within 60 s")

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self.error is not None:
            raise self.error

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class AgentNode(BackgroundLoop):
    """A real kubelet agent (`kubelet.agent.Kubelet`) for node `node`, advertising a
    `KubeletServer` on its runtime (the way `run_kubelet` wires it), on a `BackgroundLoop`.
    `start()` returns once the server listens (`port`, `token` and `runtime` are then set);
    `stop()` stops the agent with `cleanup=True` (its pods and cgroups removed) and re-raises
    what failed in the thread. Needs root for real pods."""

    def __init__(self, kubeconfig: Path, data_dir: Path, node: str, *, user_agent: str = "kubelet-test",
                 **kubelet_options: Any) -> None:
        super().__init__()
        self.kubeconfig, self.data_dir, self.node = kubeconfig, data_dir, node
        self.user_agent = user_agent
        self.kubelet_options = kubelet_options
        self.runtime: Any = None
        self.port = 0
        self.token = ""

    async def main(self, stop: asyncio.Event) -> None:
        from apimachinery.client.rest import ApiClient
        from kubelet.agent import Kubelet
        from kubelet.server import KubeletServer, token_authenticator

        client = ApiClient.from_kubeconfig(str(self.kubeconfig), user_agent=self.user_agent)
        try:
            k = Kubelet(client, self.node, self.data_dir, **self.kubelet_options)
            self.runtime = k.runtime
            self.token = client.config.bearer_token() or ""
            server = KubeletServer(k.runtime, authenticate=token_authenticator(self.token))
            self.port = k.node.port = await server.start()
            self.ready.set()
            try:
                await k.run(stop, cleanup=True)
            finally:
                await server.stop()
        finally:
            await client.close()
