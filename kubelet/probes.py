"""Startup, liveness and readiness probes: exec, httpGet and tcpSocket.

Why it exists: the kubelet decides from probe results whether a container is started, ready
(the pod's ContainersReady/Ready conditions) or must be restarted (liveness). Exec probes run
inside the container through the runtime; httpGet and tcpSocket connect from inside the
pod's network namespace (the pod has only loopback at this stage), so ``127.0.0.1`` is the
pod itself, as ``podIP`` would be in Kubernetes.

The counting rules (initialDelaySeconds, periodSeconds, successThreshold, failureThreshold)
are the pure ``ProbeState.observe``; the worker owns one ``ProbeWorker`` task per probe of a
running container. It must never block the event loop nor leave a probe task behind a
container that is gone (``ProbeWorker.stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SUCCESS, FAILURE, UNKNOWN = "success", "failure", "unknown"


@dataclass
class ProbeSettings:
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_spec(cls, probe: Obj) -> ProbeSettings:
        return cls(initial_delay=float(probe.get("initialDelaySeconds") or 0),
                   period=float(probe.get("periodSeconds") or 10),
                   timeout=float(probe.get("timeoutSeconds") or 1),
                   success_threshold=int(probe.get("successThreshold") or 1),
                   failure_threshold=int(probe.get("failureThreshold") or 3))


@dataclass
class ProbeState:
    """Result of one probe kind for one container. ``result`` starts ``unknown`` and flips
    only after ``success_threshold`` successes or ``failure_threshold`` failures in a row."""

    result: str = UNKNOWN
    successes: int = 0
    failures: int = 0

    def observe(self, ok: bool, s: ProbeSettings) -> bool:
        """Count one probe outcome; True when ``result`` changed.

        Example (failureThreshold 3): fail, fail -> still unknown/success; third fail -> failure."""
        if ok:
            self.successes += 1
            self.failures = 0
            if self.successes >= s.success_threshold and self.result != SUCCESS:
                self.result = SUCCESS
                return True
        else:
            self.failures += 1
            self.successes = 0
            if self.failures >= s.failure_threshold and self.result != FAILURE:
                self.result = FAILURE
                return True
        return False


def container_ready(running: bool, has_readiness: bool, readiness: str, started: bool) -> bool:
    """A container is ready when it runs, has started (startup probe) and its readiness probe
    (if any) succeeds; without a readiness probe a started container is ready."""
    if not running or not started:
        return False
    return readiness == SUCCESS if has_readiness else True


def container_started(running: bool, has_startup: bool, startup: str) -> bool:
    if not running:
        return False
    return startup == SUCCESS if has_startup else True


class ProbeTarget(Protocol):
    async def exec(self, argv: list[str], timeout: float) -> tuple[int, bytes, bool]: ...  # noqa: ASYNC109
    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...


def resolve_port(port: Any, container: Obj) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p.get("containerPort"))
    raise ValueError(f"port {port!r} not found in the container's ports")


async def run_probe(probe: Obj, container: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:  # noqa: ASYNC109
    """Run one probe once; (success, what went wrong in Kubernetes' wording)."""
    if probe.get("exec"):
        argv = [str(a) for a in probe["exec"].get("command") or []]
        try:
            code, out, timed_out = await target.exec(argv, timeout)
        except Exception as exc:  # noqa: BLE001 -- any runtime failure is a probe failure
            return False, str(exc)
        if timed_out:
            return False, f"command {argv!r} timed out"
        if code != 0:
            return False, out.decode("utf-8", "replace").strip()
        return True, ""
    if probe.get("tcpSocket"):
        t = probe["tcpSocket"]
        host = t.get("host") or "127.0.0.1"
        port: Any = t.get("port")
        try:
            port = resolve_port(port, container)
            _r, w = await asyncio.wait_for(target.connect(host, port), timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            return False, f"dial tcp {host}:{port}: {_err(exc)}"
        w.close()
        with contextlib.suppress(OSError):
            await w.wait_closed()
        return True, ""
    if probe.get("httpGet"):
        return await _http_probe(probe["httpGet"], container, target, timeout)
    return False, "probe has no handler"


def _err(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(exc, TimeoutError):
        return "i/o timeout"
    return str(exc) or type(exc).__name__


async def _http_probe(h: Obj, container: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:  # noqa: ASYNC109
    host = h.get("host") or "127.0.0.1"
    path = h.get("path") or "/"
    scheme = (h.get("scheme") or "HTTP").lower()
    url = f"{scheme}://{host}:{h.get('port')}{path}"
    port: Any = h.get("port")
    try:
        port = resolve_port(port, container)
        url = f"{scheme}://{host}:{port}{path}"
        if scheme != "http":
            return False, f'Get "{url}": HTTPS probes are not supported by the mizzen kubelet yet'

        async def go() -> int:
            r, w = await target.connect(host, port)
            try:
                headers = {"Host": f"{host}:{port}", "User-Agent": "kube-probe/1.32", "Accept": "*/*",
                           "Connection": "close"}
                for hh in h.get("httpHeaders") or []:
                    headers[hh.get("name", "")] = hh.get("value", "")
                req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
                w.write(req.encode())
                await w.drain()
                line = await r.readline()
                parts = line.decode("latin-1").split()
                if len(parts) < 2 or not parts[1].isdigit():
                    raise OSError("malformed HTTP response")
                return int(parts[1])
            finally:
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()

        code = await asyncio.wait_for(go(), timeout)
    except TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except (OSError, ValueError) as exc:
        return False, f'Get "{url}": dial tcp {host}:{port}: {_err(exc)}'
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


class ProbeWorker:
    """Runs one probe of one running container until stopped; calls ``on_change(kind,
    result, message)`` when its result flips, and ``on_failure(kind, message)`` after each
    failed attempt (the Unhealthy events)."""

    def __init__(self, kind: str, probe: Obj, container: Obj, target: ProbeTarget,
                 on_change: Callable[[str, str, str], None], on_failure: Callable[[str, str], None],
                 gate: Callable[[], bool] | None = None, initial: str = UNKNOWN) -> None:
        self.kind = kind
        self.probe = probe
        self.container = container
        self.target = target
        self.settings = ProbeSettings.from_spec(probe)
        self.state = ProbeState(result=initial)
        self.on_change = on_change
        self.on_failure = on_failure
        self.gate = gate
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"probe-{self.kind}-{self.container.get('name')}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _run(self) -> None:
        s = self.settings
        if s.initial_delay:
            await asyncio.sleep(s.initial_delay)
        while True:
            if self.gate is None or self.gate():
                await self._once()
                if self.kind == "startup" and self.state.result == SUCCESS:
                    return
            await asyncio.sleep(s.period)

    async def _once(self) -> None:
        ok, message = await run_probe(self.probe, self.container, self.target, self.settings.timeout)
        if not ok:
            self.on_failure(self.kind, message)
        if self.state.observe(ok, self.settings):
            self.on_change(self.kind, self.state.result, message)


def callback(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Schedule a coroutine function from a plain callback."""
    def call(*args: Any) -> None:
        asyncio.ensure_future(fn(*args))
    return call
