"""Startup, liveness and readiness probes (exec, httpGet over HTTP or HTTPS, tcpSocket), and
the lifecycle hooks' handlers (``run_hook``: postStart/preStop exec, httpGet, sleep).

Why it exists: the kubelet decides from probe results whether a container is started, ready
(the pod's ContainersReady/Ready conditions) or must be restarted (liveness). Exec probes run
inside the container through the runtime; httpGet and tcpSocket connect from inside the
pod's network namespace (the pod has only loopback at this stage), so ``127.0.0.1`` is the
pod itself, as ``podIP`` would be in Kubernetes. HTTPS is spoken without verifying the
certificate, as Kubernetes' kubelet does; ``httpHeaders`` may override ``Host``.

The counting rules (initialDelaySeconds, periodSeconds, successThreshold, failureThreshold)
are the pure ``ProbeState.observe``; the worker owns one ``ProbeWorker`` task per probe of a
running container. It must never block the event loop nor leave a probe task behind a
container that is gone (``ProbeWorker.stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
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


def _insecure_tls() -> ssl.SSLContext:
    """TLS as the kubelet speaks it to probes and hooks: the certificate is not verified."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_target(h: Obj, container: Obj) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an httpGet probe or hook; ``ValueError`` for an unknown
    named port. The host defaults to the pod's IP (127.0.0.1 here: the pod itself)."""
    scheme = (h.get("scheme") or "HTTP").lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {h.get('scheme')!r}")
    return scheme, h.get("host") or "127.0.0.1", resolve_port(h.get("port"), container), h.get("path") or "/"


async def http_get(h: Obj, container: Obj, target: ProbeTarget, user_agent: str = "kube-probe/1.32") -> int:
    """One GET of an httpGet probe or hook (HTTP or HTTPS, ``httpHeaders``, ``host``); the
    status code. Raises OSError/ssl.SSLError/ValueError when no answer comes; the caller
    applies its timeout."""
    scheme, host, port, path = http_target(h, container)
    r, w = await target.connect(host, port)
    try:
        if scheme == "https":
            sni = None if host.replace(".", "").isdigit() or ":" in host else host
            await w.start_tls(_insecure_tls(), server_hostname=sni)
        headers = {"Host": f"{host}:{port}",
                   "User-Agent": user_agent, "Accept": "*/*", "Connection": "close"}
        for hh in h.get("httpHeaders") or []:
            name = str(hh.get("name", ""))
            for k in [k for k in headers if k.lower() == name.lower()]:
                del headers[k]
            headers[name] = str(hh.get("value", ""))
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
        with contextlib.suppress(OSError, ssl.SSLError):
            await w.wait_closed()


def _url(h: Obj, container: Obj) -> tuple[str, str, Any]:
    host = h.get("host") or "127.0.0.1"
    port: Any = h.get("port")
    with contextlib.suppress(ValueError):
        port = resolve_port(port, container)
    return f"{(h.get('scheme') or 'HTTP').lower()}://{host}:{port}{h.get('path') or '/'}", host, port


async def _http_probe(h: Obj, container: Obj, target: ProbeTarget, timeout: float) -> tuple[bool, str]:  # noqa: ASYNC109
    url, host, port = _url(h, container)
    try:
        code = await asyncio.wait_for(http_get(h, container, target), timeout)
    except TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except ssl.SSLError as exc:
        return False, f'Get "{url}": {exc.reason or exc}'
    except (OSError, ValueError) as exc:
        return False, f'Get "{url}": dial tcp {host}:{port}: {_err(exc)}'
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


def go_quote(s: str) -> str:
    """Go's %q of a string (near enough: JSON's escaping)."""
    return json.dumps(s, ensure_ascii=False)


async def run_hook(hook: Obj, container: Obj, target: ProbeTarget, pod_ref: str,
                   timeout: float | None = None) -> tuple[bool, str]:  # noqa: ASYNC109
    """Run a lifecycle handler (postStart/preStop: exec, httpGet, sleep) once; (success,
    message in Kubernetes' words, e.g. ``Exec lifecycle hook ([sh -c exit 3]) for Container
    "c" in Pod "p_default(uid)" failed - error: command 'sh -c exit 3' exited with 3: ,
    message: ""``). ``pod_ref`` is ``name_namespace(uid)``. As in Kubernetes, an httpGet hook
    fails only when no response comes (any status code is an answer)."""
    name = str(container.get("name", ""))
    if hook.get("exec"):
        argv = [str(a) for a in hook["exec"].get("command") or []]
        try:
            code, out, timed_out = await target.exec(argv, timeout if timeout is not None else 1e9)
            err = (f"command '{' '.join(argv)}' timed out" if timed_out else
                   f"command '{' '.join(argv)}' exited with {code}: " if code != 0 else "")
            text = out.decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 -- any runtime failure is a hook failure
            err, text = str(exc), ""
        if not err:
            return True, ""
        return False, (f"Exec lifecycle hook ([{' '.join(argv)}]) for Container {go_quote(name)} in Pod "
                       f"{go_quote(pod_ref)} failed - error: {err}, message: {go_quote(text)}")
    if hook.get("httpGet"):
        h = hook["httpGet"]
        url, host, port = _url(h, container)
        try:
            await asyncio.wait_for(http_get(h, container, target, user_agent="kube-lifecycle/1.32"), timeout)
            return True, ""
        except TimeoutError:
            err = f'Get "{url}": context deadline exceeded'
        except ssl.SSLError as exc:
            err = f'Get "{url}": {exc.reason or exc}'
        except (OSError, ValueError) as exc:
            err = f'Get "{url}": dial tcp {host}:{port}: {_err(exc)}'
        return False, (f"HTTP lifecycle hook ({h.get('path') or ''}) for Container {go_quote(name)} in Pod "
                       f"{go_quote(pod_ref)} failed - error: {err}")
    if hook.get("sleep"):
        secs = float(hook["sleep"].get("seconds", 0))
        await asyncio.sleep(secs if timeout is None else min(secs, timeout))
        return True, ""
    return False, "hook has no handler"


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
