"""The API server's proxy to kubelets: ``pods/log`` (HTTP, streamed while following),
``pods/exec``, ``pods/attach`` and ``pods/portforward`` (WebSocket frames relayed both ways), as
Kubernetes' API server forwards them to the kubelet of the pod's node.

Entry points: ``proxy_to_kubelet(server, req, res, route)`` for plain HTTP requests (called by
``APIServer.get``/``post``); ``websocket_proxy(server, scope, receive, send)`` for ASGI
``websocket`` scopes (``APIServer.__call__`` hands them over); ``WebSocketUpgrades``, what
apiserver.httpserver hands an upgraded connection to (uvicorn's WebSocket protocol, made by
``websocket_protocol_class()`` to accept kubectl's port-forward subprotocol
``SPDY/3.1+portforward.k8s.io``, which it would otherwise refuse before the application sees
the request).

Before contacting the kubelet the request is checked against the pod object with Kubernetes'
messages (which container, ``pod x does not have a host assigned``, ``container "c" in pod "x"
is waiting to start: ContainerCreating``...), so a pod whose kubelet has not reported yet
answers like Kubernetes.  The kubelet is found from the node's ``status.addresses``
(InternalIP) and ``status.daemonEndpoints.kubeletEndpoint.Port``.  The API server presents
the cluster admin bearer token to it.  TLS: the kubelet's serving certificate is self-signed,
so it is not verified when the kubelet is on a loopback address (the connection never leaves
the machine); any other address is verified against ``server.kubelet_ca`` (a CA bundle path)
and refused when the API server has none.

What it must never do: relay a request to a kubelet before the caller is authenticated, keep
a kubelet connection open after its client has gone, or let a kubelet's failure escape as
anything but a Status.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp

from apimachinery import errors
from apimachinery.errors import BadRequest, StatusError
from apimachinery.resources import ResourceInfo
from apiserver.http import Receive, Request, Response, Scope, Send, error_response

log = logging.getLogger(__name__)

KUBELET_PATHS = {"log": "containerLogs", "exec": "exec", "attach": "attach", "portforward": "portforward"}
LOG_PARAMS = ("follow", "tailLines", "timestamps", "sinceSeconds", "sinceTime", "previous", "limitBytes")
STREAM_PARAMS = {"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"}


class _Target:
    def __init__(self, url: str, token: str, ssl_ctx: ssl.SSLContext | bool) -> None:
        self.url, self.token, self.ssl = url, token, ssl_ctx

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# ------------------------------------------------------------------------------ decisions (pure)

def _names(spec: dict[str, Any], key: str) -> list[str]:
    return [c.get("name", "") for c in spec.get(key) or []]


def choose_container(pod: dict[str, Any], requested: str | None) -> str:
    """The container a log/exec/attach request is for, or Kubernetes' BadRequest."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    containers, inits = _names(spec, "containers"), _names(spec, "initContainers")
    if not requested:
        if len(containers) == 1:
            return containers[0]
        msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if inits:
            msg += f" or one of the init containers: [{' '.join(inits)}]"
        raise BadRequest(msg)
    if requested not in containers + inits + _names(spec, "ephemeralContainers"):
        raise BadRequest(f"container {requested} is not valid for pod {name}")
    return requested


def _container_status(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if cs.get("name") == container:
                return cs
    return None


def check_pod(pod: dict[str, Any], subresource: str, container: str | None, previous: bool = False) -> None:
    """What Kubernetes (API server and kubelet) refuses before streaming anything."""
    name = pod["metadata"]["name"]
    if not (pod.get("spec") or {}).get("nodeName"):
        raise BadRequest(f"pod {name} does not have a host assigned")
    phase = (pod.get("status") or {}).get("phase", "")
    if subresource in ("exec", "attach") and phase in ("Succeeded", "Failed"):
        raise BadRequest(f"cannot {subresource} into a container in a completed pod; current phase is {phase}")
    if container is None:
        return
    cs = _container_status(pod, container) or {"state": {"waiting": {"reason": "ContainerCreating"}}}
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    if subresource == "log":
        if previous:
            if "terminated" not in last:
                raise BadRequest(f'previous terminated container "{container}" in pod "{name}" not found')
        elif "waiting" in state and "terminated" not in last:
            reason = (state["waiting"] or {}).get("reason") or "ContainerCreating"
            raise BadRequest(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    elif "running" not in state:
        if "waiting" in state:
            reason = (state["waiting"] or {}).get("reason") or "ContainerCreating"
            raise BadRequest(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        raise BadRequest(f'container "{container}" in pod "{name}" is not running')


def kubelet_address(node: dict[str, Any]) -> tuple[str, int]:
    """(host, port) of a node's kubelet server, from its status."""
    status = node.get("status") or {}
    port = int(((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0)
    by_type = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = by_type.get("InternalIP") or by_type.get("ExternalIP") or by_type.get("Hostname") or ""
    return host, port


def kubelet_query(subresource: str, query: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The API request's parameters in the kubelet's terms (stdin -> input ...)."""
    out: list[tuple[str, str]] = []
    if subresource == "log":
        for k in LOG_PARAMS:
            out += [(k, v) for v in query.get(k, [])]
    elif subresource in ("exec", "attach"):
        if subresource == "exec":
            out += [("command", c) for c in query.get("command", [])]
        for k, kk in STREAM_PARAMS.items():
            out += [(kk, v) for v in query.get(k, [])]
    return out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------ resolution

async def _target(server: Any, res: ResourceInfo, namespace: str | None, name: str, subresource: str,
                  query: dict[str, list[str]]) -> _Target:
    if res.plural != "pods" or subresource not in KUBELET_PATHS:
        raise errors.MethodNotAllowed()
    pod = (await server.handlers.get(res, namespace, name)).obj
    container = None
    if subresource != "portforward":
        container = choose_container(pod, (query.get("container") or [""])[0])
    previous = (query.get("previous") or [""])[0].lower() in ("true", "1")
    check_pod(pod, subresource, container, previous)
    nodes = server.registry.by_resource("", "v1", "nodes")
    node_name = pod["spec"]["nodeName"]
    try:
        node = (await server.handlers.get(nodes, None, node_name)).obj
    except errors.NotFound:
        raise BadRequest(f'node "{node_name}" not found for pod {name}') from None
    host, port = kubelet_address(node)
    if not host or not port:
        raise _unavailable(f"no kubelet endpoint for node {node_name}")
    if _is_loopback(host):
        ssl_ctx: ssl.SSLContext | bool = False
    else:
        ca = getattr(server, "kubelet_ca", None)
        if not ca:
            raise _unavailable(f"cannot verify the serving certificate of the kubelet at {host}:{port}")
        ssl_ctx = ssl.create_default_context(cafile=ca)
    path = f"/{KUBELET_PATHS[subresource]}/{namespace}/{name}" + (f"/{container}" if container else "")
    qs = urlencode(kubelet_query(subresource, query))
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return _Target(f"https://{hostport}{path}" + (f"?{qs}" if qs else ""), _admin_token(server), ssl_ctx)


def _admin_token(server: Any) -> str:
    from apiserver.pki import admin_token
    try:
        return admin_token(server.config.tokens)
    except KeyError:
        raise errors.InternalError("the API server has no admin token to present to kubelets") from None


def _unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def _dial_error(t: _Target, e: Exception) -> StatusError:
    # Kubernetes shows a failed dial as `Error from server: Get "https://…": dial tcp …`
    return StatusError(500, "", f'Get "{t.url}": {e}')


# ------------------------------------------------------------------------------ HTTP

async def proxy_to_kubelet(server: Any, req: Request, res: ResourceInfo, r: Any) -> Response:
    """``GET pods/x/log`` streamed from the kubelet; ``exec``/``attach``/``portforward``
    without a WebSocket upgrade get Kubernetes' checks, then "Upgrade request required"."""
    t = await _target(server, res, r.namespace, r.name, r.subresource, req.query)
    if r.subresource != "log":
        raise BadRequest("Upgrade request required")
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
    try:
        resp = await session.get(t.url, headers=t.headers, ssl=t.ssl)
    except (aiohttp.ClientError, OSError) as e:
        await session.close()
        raise _dial_error(t, e) from None
    ctype = resp.headers.get("Content-Type", "text/plain").split(";")[0].encode()
    if resp.status != 200:
        body = await resp.read()
        resp.release()
        await session.close()
        return Response(resp.status, body, content_type=ctype)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, OSError):
            return
        finally:
            resp.close()
            await session.close()

    return Response(200, content_type=b"text/plain", stream=chunks())


# ------------------------------------------------------------------------------ WebSocket

def websocket_protocol_class() -> Any:
    """uvicorn's WebSocket protocol, made to accept kubectl's port-forward subprotocol.

    ``websockets`` parses ``Sec-WebSocket-Protocol`` as RFC 6455 tokens, and
    ``SPDY/3.1+portforward.k8s.io`` is not one (``/``), so the stock protocol refuses kubectl's
    port-forward with a 400 before the application sees it.  The app chooses the subprotocol
    itself (``websocket.accept``; uvicorn writes the response header), so parsing is skipped.
    ``WebSocketUpgrades`` builds its protocols from it."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:   # another uvicorn: its default (exec works; port-forward may not)
        log.warning("uvicorn without websockets_sansio_impl: kubectl port-forward may be refused")
        return "auto"

    class KubernetesWebSocketProtocol(WebSocketsSansIOProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.conn.process_subprotocol = lambda headers: None  # type: ignore[method-assign]

    return KubernetesWebSocketProtocol


class WebSocketUpgrades:
    """Builds the WebSocket protocol an upgraded connection is handed to (apiserver.httpserver
    does the HTTP part): uvicorn's, with `websocket_protocol_class`'s change, and the uvicorn
    configuration and server state it needs. `shutdown` closes the open ones."""

    def __init__(self, app: Any) -> None:
        import uvicorn
        from uvicorn.server import ServerState

        self.config = uvicorn.Config(app, ws=websocket_protocol_class(), lifespan="off", log_level="warning",
                                     proxy_headers=False, access_log=False)
        self.config.load()
        self.state = ServerState()

    def __call__(self) -> asyncio.Protocol:
        cls = self.config.ws_protocol_class
        assert cls is not None
        return cls(config=self.config, server_state=self.state, app_state={})  # type: ignore[call-arg]

    def shutdown(self) -> None:
        for c in list(self.state.connections):
            c.shutdown()


async def _deny(scope: Scope, send: Send, err: StatusError) -> None:
    """Refuse an upgrade with the Status as an HTTP answer (kubectl then reports it, or
    falls back to SPDY and gets the same Status from ``proxy_to_kubelet``)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        resp = error_response(err)
        await send({"type": "websocket.http.response.start", "status": resp.status,
                    "headers": [(b"content-type", resp.content_type), *resp.headers]})
        await send({"type": "websocket.http.response.body", "body": resp.body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": err.message[:120]})


async def websocket_proxy(server: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI ``websocket`` scope: authenticate, check the pod, dial the kubelet with the
    client's subprotocols, accept with the one the kubelet chose, then relay frames."""
    msg = await receive()
    if msg["type"] != "websocket.connect":
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    req = Request.from_scope({**scope, "method": "GET"}, receive)
    protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
    try:
        try:
            await server.authenticate(req)
            r = server.route(req.path)
            if r.discovery or r.resource is None or not r.name or r.subresource not in KUBELET_PATHS:
                raise errors.NotFound(message="the server could not find the requested resource")
            t = await _target(server, r.resource, r.namespace, r.name, r.subresource, req.query)
            try:
                kws = await session.ws_connect(t.url, headers=t.headers, ssl=t.ssl, protocols=protocols,
                                               autoping=True, heartbeat=None, max_msg_size=16 << 20)
            except aiohttp.WSServerHandshakeError as e:
                raise StatusError(e.status, "BadRequest" if e.status == 400 else "",
                                  e.message or "kubelet refused the upgrade") from None
            except (aiohttp.ClientError, OSError) as e:
                raise _dial_error(t, e) from None
        except StatusError as e:
            await _deny(scope, send, e)
            return
        except Exception as e:  # a bug: answer 500 as a Status, log the traceback
            log.exception("internal error upgrading %s", req.path)
            await _deny(scope, send, errors.InternalError(str(e)))
            return
        await send({"type": "websocket.accept", "subprotocol": kws.protocol})
        await _relay(kws, receive, send)
    finally:
        await session.close()


async def _relay(kws: aiohttp.ClientWebSocketResponse, receive: Receive, send: Send) -> None:
    import asyncio

    async def client_to_kubelet() -> None:
        while True:
            m = await receive()
            if m["type"] == "websocket.disconnect":
                return
            if m.get("bytes") is not None:
                await kws.send_bytes(m["bytes"])
            elif m.get("text") is not None:
                await kws.send_str(m["text"])

    async def kubelet_to_client() -> None:
        async for m in kws:
            if m.type == aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": m.data})
            elif m.type == aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": m.data})
        code = kws.close_code or 1000
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": code if 1000 <= code < 5000 else 1000})

    tasks = [asyncio.ensure_future(client_to_kubelet()), asyncio.ensure_future(kubelet_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kws.close()


__all__ = ["check_pod", "choose_container", "kubelet_address", "kubelet_query", "proxy_to_kubelet",
           "websocket_protocol_class", "websocket_proxy"]
