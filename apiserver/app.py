"""The API server's ASGI application: authentication, routing of the Kubernetes URL space to
the REST handlers, content negotiation (JSON, Table), watch streams, discovery, OpenAPI,
health and metrics.

Resource paths are dispatched straight from ASGI (see apiserver/http.py for why); the few
other endpoints are a FastAPI app. Every answer that is an error is a `Status`, never a
framework's default body (kubectl would print "the server could not find the requested
resource" for those)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import Request as FastRequest
from fastapi.responses import Response as FastResponse
from opentelemetry import trace

from apimachinery import errors
from apimachinery.errors import BadRequest, MethodNotAllowed, NotFound, StatusError
from apimachinery.metrics import Registry as MetricsRegistry
from apimachinery.resources import DEFAULT, Registry, ResourceInfo
from apiserver import crds, objects, watch
from apiserver.allocators import KUBERNETES_SERVICE_IP
from apiserver.auth import API_AUDIENCES, AlwaysAllow, Attributes, Authenticator, Authorizer, audiences_of
from apiserver.conversion import convert, has_conversion
from apiserver.enforcement import not_enforced_warning
from apiserver.handlers import RETURNS_DELETED_OBJECT, Handlers, Options
from apiserver.http import (
    Receive,
    Request,
    Response,
    Scope,
    Send,
    error_response,
    json_response,
    raw_response,
)
from apiserver.objects import key_for, prefix_for
from apiserver.storage import KeyValue, Store

log = logging.getLogger(__name__)
tracer = trace.get_tracer("mizzen.apiserver")

TABLE = "as=Table"
WATCH_TIMEOUT_DEFAULT = 1800.0
REAP_SLACK = dt.timedelta(seconds=15)


@dataclass
class Route:
    group: str
    version: str
    resource: ResourceInfo | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str = ""
    discovery: bool = False  # /api/v1 or /apis/<g>/<v> itself


@dataclass
class ServerConfig:
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # bearer token -> user info
    signing_key: bytes = b""  # service account tokens (HMAC-SHA256)
    bookmark_interval: float = 30.0
    default_toleration_seconds: int = 300
    #: kube-apiserver's --disable-admission-plugins (e.g. "ServiceAccount")
    disable_admission_plugins: tuple[str, ...] = ()


_MODELS: dict[tuple[str, str, str], str | None] = {}
_STRATEGIES: dict[tuple[str, str, str], Any] = {}


def _model_for(res: ResourceInfo) -> str | None:
    key = (res.group, res.version, res.kind)
    if key not in _MODELS:
        from apimachinery.schema import model_for
        _MODELS[key] = model_for(res.group, res.version, res.kind) if res.stored else None
    return _MODELS[key]


def _strategy_for(res: ResourceInfo) -> Any:
    custom = crds.strategy_for(res)  # custom resources (their CRD's schema) and CRDs themselves
    if custom is not None:
        return custom
    key = (res.group, res.version, res.kind)
    strategy = _STRATEGIES.get(key)
    if strategy is None or strategy.resource is not res:
        from apiserver.registry import strategy_for
        strategy = _STRATEGIES[key] = strategy_for(res)
    return strategy


class APIServer:
    def __init__(self, store: Store, config: ServerConfig, registry: Registry | None = None):
        self.store = store
        self.config = config
        self.authenticator = Authenticator(config.tokens, config.signing_key or os.urandom(32), self.get_object)
        self.authorizer: Authorizer = AlwaysAllow()
        self.registry = registry or Registry(list(DEFAULT))
        from apiserver.registry import AdmissionConfig, make_admit
        sa_admission = "ServiceAccount" not in config.disable_admission_plugins
        admission = AdmissionConfig(default_not_ready_toleration_seconds=config.default_toleration_seconds,
                                    default_unreachable_toleration_seconds=config.default_toleration_seconds,
                                    service_account_admission=sa_admission,
                                    service_account=lambda ns, name: self.get_object("serviceaccounts", ns, name))
        self.handlers = Handlers(store, self.registry, strategy_for=_strategy_for, model_for=_model_for,
                                 admit=make_admit(admission))
        self.metrics = MetricsRegistry()
        self.requests_total = self.metrics.counter(
            "apiserver_request_total", "Counter of apiserver requests broken out for each verb, dry run value, "
            "group, version, resource, scope, component, and HTTP response code.",
            ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"))
        self.request_duration = self.metrics.histogram(
            "apiserver_request_duration_seconds", "Response latency distribution in seconds for each verb, dry run "
            "value, group, version, resource, subresource, scope and component.",
            ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"),
            buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30,
                     45, 60))
        self.inflight = self.metrics.gauge("apiserver_current_inflight_requests",
                                           "Maximal number of currently used inflight request limit of this "
                                           "apiserver per request kind in last second.", ("request_kind",))
        self.ready = False
        # A span per request costs ~20 us even when nothing exports it: only when a tracer
        # provider is installed (OTEL_TRACES_EXPORTER=console|otlp: see mizzen/telemetry.py).
        self.tracing = not isinstance(trace.get_tracer_provider(),
                                      (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
        self._disc_cache: dict[Any, tuple[bytes, str]] = {}
        self._routes: dict[str, tuple[int, Route]] = {}
        self.fast = _misc_app(self)
        self._reaper: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # pods/exec, attach, portforward (kubelet proxy)
                from apiserver.proxy import websocket_proxy
                return await websocket_proxy(self, scope, receive, send)
            if scope["type"] == "lifespan":
                await self.fast(scope, receive, send)
            return
        path: str = scope["path"]
        if not (path == "/api" or path == "/apis" or path.startswith("/api/") or path.startswith("/apis/")):
            if len(path) > 1 and path.endswith("/"):  # the Python client asks for /version/
                scope = {**scope, "path": path.rstrip("/")}
            await self.fast(scope, receive, send)
            return
        req = Request.from_scope(scope, receive)
        t0 = time.perf_counter()
        labels = {"verb": req.method, "resource": "", "subresource": "", "group": "", "version": "",
                  "scope": "", "dry_run": ""}
        if self.tracing:
            with tracer.start_as_current_span(f"{req.method} {path}", kind=trace.SpanKind.SERVER) as span:
                resp = await self.serve(req, labels)
                span.set_attribute("http.status_code", resp.status)
                span.set_attribute("k8s.verb", labels["verb"])
        else:
            resp = await self.serve(req, labels)
        verb = labels["verb"]
        code = str(resp.status)
        self.requests_total.labels(verb, labels["dry_run"], labels["group"], labels["version"], labels["resource"],
                                   labels["subresource"], labels["scope"], "apiserver", code).inc()
        if verb != "WATCH":
            self.request_duration.labels(verb, labels["dry_run"], labels["group"], labels["version"],
                                         labels["resource"], labels["subresource"], labels["scope"],
                                         "apiserver").observe(time.perf_counter() - t0)
        await resp.send(send, receive)

    async def serve(self, req: Request, labels: dict[str, str]) -> Response:
        try:
            await self.authenticate(req)
            return await self.dispatch(req, labels)
        except StatusError as e:
            return error_response(e)
        except Exception as e:  # a bug: answer 500 as a Status, log the traceback
            log.exception("internal error serving %s %s", req.method, req.path)
            return error_response(errors.InternalError(str(e)))

    async def authenticate(self, req: Request) -> None:
        auth = req.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            user = await self.authenticator.authenticate(auth[7:].strip())
            if user is not None:
                req.user = user
                return
        raise errors.Unauthorized()

    # ------------------------------------------------------------------ routing

    def route(self, path: str) -> Route:
        cached = self._routes.get(path)
        if cached is not None and cached[0] == self.registry.generation:
            return cached[1]
        r = self._route(path)
        if len(self._routes) > 8192:
            self._routes.clear()
        self._routes[path] = (self.registry.generation, r)
        return r

    def _route(self, path: str) -> Route:
        parts = [p for p in path.split("/") if p]
        if parts[0] == "api":
            if len(parts) < 2:
                return Route("", "", discovery=True)
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 3:
                return Route(parts[1] if len(parts) > 1 else "", "", discovery=True)
            group, version, rest = parts[1], parts[2], parts[3:]
        if version not in self.registry.versions(group):
            raise NotFound(message="the server could not find the requested resource")
        if not rest:
            return Route(group, version, discovery=True)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = self.registry.by_resource(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace = rest[1]
                rest = rest[2:]
        res = self.registry.by_resource(group, version, rest[0])
        if res is None or len(rest) > 3:
            raise NotFound(message="the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if sub and res.subresource(sub) is None:
            raise NotFound(message="the server could not find the requested resource")
        return Route(group, version, res, namespace, name, sub)

    async def dispatch(self, req: Request, labels: dict[str, str]) -> Response:
        r = self.route(req.path)
        if r.discovery:
            return self.discovery(req, r)
        res = r.resource
        assert res is not None
        labels.update(group=r.group, version=r.version, resource=res.plural, subresource=r.subresource,
                      scope="resource" if r.name else ("namespace" if r.namespace else "cluster"))
        if req.arg("dryRun") is not None:
            labels["dry_run"] = "All"
        m = req.method
        if not res.stored:
            if m != "POST" or r.name:
                raise MethodNotAllowed()
            labels["verb"] = "CREATE"
            return await self.review(req, res)
        if res.namespaced and r.name and r.namespace is None:
            raise NotFound(message="the server could not find the requested resource")
        if m == "GET":
            if r.name is None:
                if req.flag("watch"):
                    labels["verb"] = "WATCH"
                    return await self.watch(req, res, r.namespace)
                labels["verb"] = "LIST"
                return await self.list(req, res, r.namespace)
            labels["verb"] = "GET"
            return await self.get(req, res, r)
        if m == "POST":
            labels["verb"] = "CREATE"
            return await self.create(req, res, r)
        if m == "PUT" and r.name:
            labels["verb"] = "UPDATE"
            return await self.update(req, res, r)
        if m == "PATCH" and r.name:
            labels["verb"] = "PATCH"
            return await self.patch(req, res, r)
        if m == "DELETE":
            if r.name is None:
                labels["verb"] = "DELETECOLLECTION"
                return await self.delete_collection(req, res, r.namespace)
            labels["verb"] = "DELETE"
            return await self.delete(req, res, r)
        raise MethodNotAllowed()

    # ------------------------------------------------------------------ helpers

    def options(self, req: Request) -> Options:
        dry = req.args("dryRun")
        if dry and any(d != "All" for d in dry):
            raise BadRequest(f'Invalid dry run value: "{dry[0]}": supported values: "All"')
        fv = req.arg("fieldValidation") or "Warn"
        if fv not in ("Strict", "Warn", "Ignore"):
            raise BadRequest(f"fieldValidation parameter unsupported: {fv}")
        manager = req.arg("fieldManager") or ""
        if len(manager) > 128:
            raise errors.Invalid("", "", [errors.Cause("fieldManager", "must be less than 128 characters",
                                                       "FieldValueTooLong")], message="fieldManager: Too long: "
                                 "must have at most 128 bytes")
        if not manager:
            ua = req.headers.get("user-agent", "")
            manager = ua.split("/")[0] if ua else ""
        return Options(dry_run=bool(dry), field_manager=manager, field_validation=fv, warnings=[])

    def wants_table(self, req: Request) -> bool:
        return TABLE in req.headers.get("accept", "")

    def selectors(self, req: Request, res: ResourceInfo) -> tuple[Any, Any]:
        from apimachinery.selectors import FieldSelector, LabelSelector
        ls = req.arg("labelSelector") or ""
        fs = req.arg("fieldSelector") or ""
        label_sel = LabelSelector.parse(ls) if ls.strip() else None
        field_sel = None
        if fs.strip():
            field_sel = FieldSelector.parse(fs).converted(res.kind, res.group)
        return label_sel, field_sel

    def obj_response(self, req: Request, res: ResourceInfo, stored: KeyValue | dict[str, Any], status: int,
                     opts: Options | None = None) -> Response:
        headers = _warning_headers(opts)
        if isinstance(stored, KeyValue):
            if self.wants_table(req):
                return json_response(self.table(req, res, [stored.obj], str(stored.revision)), status, headers)
            return raw_response(_as_version(res, stored.raw), status, headers)
        if self.wants_table(req):
            return json_response(self.table(req, res, [stored], ""), status, headers)
        return json_response(convert(stored, res.api_version) if has_conversion(res.group) else stored, status,
                             headers)

    def table(self, req: Request, res: ResourceInfo, objs: list[dict[str, Any]], rv: str, continue_: str = "",
              remaining: int | None = None) -> dict[str, Any]:
        from apiserver.registry.tables import table
        include = req.arg("includeObject") or "Metadata"
        self.check_include(include)
        return table(res, objs, now=objects.now(), include_object=include, resource_version=rv,
                     printer_columns=getattr(res, "printer_columns", None),
                     continue_=continue_, remaining=remaining)

    def check_include(self, include: str) -> None:
        from apiserver.registry.tables import validate_include_object
        try:
            validate_include_object(include)
        except ValueError as e:
            raise BadRequest(str(e)) from None

    async def body_object(self, req: Request, kind: str = "") -> dict[str, Any]:
        body = await req.body()
        ct = req.content_type
        if ct == "application/vnd.kubernetes.protobuf":
            from apiserver.protobuf import decode_object
            return decode_object(body, kind)
        return objects.decode_object(body, ct)

    async def find_duplicates(self, req: Request, decoded: Any, opts: Options) -> None:
        """Keys a JSON body holds twice in one object, which fieldValidation reports
        (`duplicate field "replicas"`): the parser already kept only the last one."""
        if opts.field_validation == "Ignore" or req.content_type == "application/vnd.kubernetes.protobuf":
            return
        opts.duplicate_fields = duplicate_fields(await req.body(), decoded)

    # ------------------------------------------------------------------ verbs

    async def get(self, req: Request, res: ResourceInfo, r: Route) -> Response:
        assert r.name is not None
        if r.subresource == "scale":
            return json_response(await self.handlers.get_scale(res, r.namespace, r.name))
        if r.subresource in ("log", "exec", "attach", "portforward", "proxy"):
            return await self.node_proxy(req, res, r)
        if r.subresource not in ("", "status"):
            raise MethodNotAllowed()
        kv = await self.handlers.get(res, r.namespace, r.name)
        return self.obj_response(req, res, kv, 200)

    async def list(self, req: Request, res: ResourceInfo, namespace: str | None) -> Response:
        label_sel, field_sel = self.selectors(req, res)
        limit = _int_arg(req, "limit")
        rv = req.arg("resourceVersion") or ""
        match = req.arg("resourceVersionMatch") or ""
        if match and match not in ("Exact", "NotOlderThan"):
            raise BadRequest(f'resourceVersionMatch: Unsupported value: "{match}"')
        if match and not rv:
            raise BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
        exact = 0
        if rv and rv != "0":
            try:
                want = int(rv)
            except ValueError:
                raise BadRequest(f"invalid resource version: {rv}") from None
            if want > self.store.revision:
                raise errors.Timeout(f"Too large resource version: {want}, current: {self.store.revision}")
            # Exact, and (Kubernetes' legacy paging) a resourceVersion with a limit and no match
            if match == "Exact" or (not match and limit):
                exact = want
        items, revision, token, remaining = await self.handlers.list(
            res, namespace, label_selector=label_sel, field_selector=field_sel, limit=limit,
            continue_=req.arg("continue") or "", revision=exact)
        if self.wants_table(req):
            return json_response(self.table(req, res, [kv.obj for kv in items], str(revision), token, remaining))
        head: dict[str, Any] = {"resourceVersion": str(revision)}
        if token:
            head["continue"] = token
            if remaining is not None:
                head["remainingItemCount"] = remaining
        body = b"".join((b'{"kind":"', res.list_kind.encode(), b'","apiVersion":"', res.api_version.encode(),
                         b'","metadata":', orjson.dumps(head), b',"items":[', b",".join(_as_version(res, kv.raw) for kv in items),
                         b"]}"))
        return raw_response(body)

    async def watch(self, req: Request, res: ResourceInfo, namespace: str | None) -> Response:
        label_sel, field_sel = self.selectors(req, res)
        rv = req.arg("resourceVersion") or ""
        timeout = float(_int_arg(req, "timeoutSeconds") or WATCH_TIMEOUT_DEFAULT)
        matches = None
        if label_sel is not None or field_sel is not None:
            def matches(obj: dict[str, Any]) -> bool:
                return self.handlers.matches(res, obj, label_sel, field_sel)
        initial = None
        initial_rev = 0
        if rv in ("", "0") or req.flag("sendInitialEvents"):
            items, initial_rev, _, _ = await self.handlers.list(res, namespace, label_selector=label_sel,
                                                                field_selector=field_sel)
            initial = items
        encode = None
        ctype = b"application/json"
        if self.wants_table(req):
            include = req.arg("includeObject") or "Metadata"
            from apiserver.registry.tables import table as make_table

            self.check_include(include)
            first = True

            def encode(type_: str, kv: KeyValue) -> bytes:
                # Kubernetes sends the column definitions with the first event only.
                nonlocal first
                t = make_table(res, [kv.obj], now=objects.now(), include_object=include,
                               resource_version=str(kv.revision), no_headers=not first,
                               printer_columns=getattr(res, "printer_columns", None))
                first = False
                return watch.event_line(type_, orjson.dumps(t))
        elif getattr(res, "all_versions", ()) or has_conversion(res.group):
            def encode(type_: str, kv: KeyValue) -> bytes:
                return watch.event_line(type_, _as_version(res, kv.raw))
        body = watch.stream(self.store, res, prefix_for(res, namespace), resource_version=rv, matches=matches,
                            encode=encode, initial=initial, initial_revision=initial_rev, duration=timeout,
                            bookmarks=req.flag("allowWatchBookmarks"),
                            bookmark_interval=self.config.bookmark_interval)
        return Response(200, content_type=ctype, stream=body,
                        headers=[(b"cache-control", b"no-cache, private")])

    async def create(self, req: Request, res: ResourceInfo, r: Route) -> Response:
        opts = self.options(req)
        if r.name is not None:
            return await self.create_subresource(req, res, r, opts)
        if res.group == "" and res.plural == "bindings":
            raise MethodNotAllowed()
        obj = await self.body_object(req, res.kind)
        await self.find_duplicates(req, obj, opts)
        stored, code = await self.handlers.create(res, r.namespace, obj, opts)
        self.warn_not_enforced(res, opts)
        return self.obj_response(req, res, stored, code, opts)

    def warn_not_enforced(self, res: ResourceInfo, opts: Options) -> None:
        why = not_enforced_warning(res)
        if why and opts.warnings is not None:
            opts.warnings.append(why)

    async def create_subresource(self, req: Request, res: ResourceInfo, r: Route, opts: Options) -> Response:
        assert r.name is not None and r.namespace is not None or not res.namespaced
        if res.plural == "pods" and r.subresource == "binding":
            body = await self.body_object(req)
            await self.handlers.bind(res, r.namespace or "", r.name, body, opts)
            return json_response(_success(), 201)
        if res.plural == "pods" and r.subresource == "eviction":
            body = await self.body_object(req)
            pdbs = self.registry.by_resource("policy", "v1", "poddisruptionbudgets")
            assert pdbs is not None
            await self.handlers.evict(res, pdbs, r.namespace or "", r.name, body, opts)
            return json_response(_success(), 201)
        if res.plural == "serviceaccounts" and r.subresource == "token":
            return await self.token_request(req, res, r)
        if r.subresource in ("exec", "attach", "portforward", "proxy"):
            return await self.node_proxy(req, res, r)
        raise MethodNotAllowed()

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A core/v1 object by plural, namespace and name (None when absent): the
        authenticator's view of the service accounts, pods and secrets tokens name."""
        res = self.registry.by_resource("", "v1", plural)
        if res is None:
            return None
        kv = await self.store.get(key_for(res, namespace if res.namespaced else None, name))
        return None if kv is None else kv.obj

    async def token_request(self, req: Request, res: ResourceInfo, r: Route) -> Response:
        """POST serviceaccounts/<name>/token (`kubectl create token`, the kubelet's projected
        tokens): TokenREST of Kubernetes, with `boundObjectRef` to a Pod (its node recorded
        too) or a Secret; the answer's expirationTimestamp is the requested lifetime even when
        the token itself was extended (see apiserver.auth.token_lifetime)."""
        assert r.name is not None
        ns = r.namespace or ""
        body = await self.body_object(req, "TokenRequest")
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != r.name:
            raise errors.Invalid("TokenRequest", r.name, [errors.Cause(
                "metadata.name", f'Invalid value: "{meta["name"]}": must match the service account name if '
                "specified")], "authentication.k8s.io")
        if meta.get("namespace") and meta["namespace"] != ns:
            raise errors.Invalid("TokenRequest", r.name, [errors.Cause(
                "metadata.namespace", f'Invalid value: "{meta["namespace"]}": must match the service account '
                "namespace if specified")], "authentication.k8s.io")
        sa = (await self.handlers.get(res, r.namespace, r.name)).obj
        spec = dict(body.get("spec") or {})
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < 600 or seconds > 1 << 32:
            why = "less than 10 minutes" if seconds < 600 else "larger than 2^32 seconds"
            raise errors.Invalid("TokenRequest", "", [errors.Cause(
                "spec.expirationSeconds", f"Invalid value: {seconds}: may not specify a duration {why}")],
                "authentication.k8s.io")
        pod = node = secret = None
        ref = spec.get("boundObjectRef")
        if ref:
            kind, api_version = ref.get("kind", ""), ref.get("apiVersion", "")
            group = api_version.rpartition("/")[0] if "/" in api_version else ""
            if group == "" and kind == "Pod":
                pod = (await self.handlers.get(self._core("pods"), ns, ref.get("name", ""))).obj
                if (pod.get("spec") or {}).get("serviceAccountName") != r.name:
                    raise BadRequest(f'cannot bind token for serviceaccount "{r.name}" to pod running with '
                                     "different serviceaccount name.")
                uid = pod["metadata"].get("uid")
                node_name = (pod.get("spec") or {}).get("nodeName")
                if node_name:  # a missing Node still leaves its name in the claims
                    node = await self.get_object("nodes", "", node_name) or {"metadata": {"name": node_name}}
            elif group == "" and kind == "Secret":
                secret = (await self.handlers.get(self._core("secrets"), ns, ref.get("name", ""))).obj
                uid = secret["metadata"].get("uid")
            else:
                version = api_version.rpartition("/")[2]
                raise BadRequest(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
            if ref.get("uid") and ref["uid"] != uid:
                raise errors.Conflict(kind, ref.get("name", ""), group, message=(
                    f'Operation cannot be fulfilled on {kind}{"." + group if group else ""} "{ref.get("name", "")}": '
                    f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                    "The object might have been deleted and then recreated"))
        audiences = spec.get("audiences") or list(API_AUDIENCES)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        token, _claims = self.authenticator.issue(sa, audiences=audiences, expiration_seconds=seconds, pod=pod,
                                                  node=node, secret=secret, now=int(now.timestamp()))
        spec = {**spec, "expirationSeconds": seconds, "audiences": audiences}
        out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"name": r.name, "namespace": r.namespace, "creationTimestamp": objects.rfc3339(now)},
               "spec": spec, "status": {"token": token, "expirationTimestamp": objects.rfc3339(
                   now + dt.timedelta(seconds=seconds))}}
        return json_response(out, 201)

    def _core(self, plural: str) -> ResourceInfo:
        res = self.registry.by_resource("", "v1", plural)
        assert res is not None
        return res

    async def update(self, req: Request, res: ResourceInfo, r: Route) -> Response:
        assert r.name is not None
        opts = self.options(req)
        obj = await self.body_object(req, "Scale" if r.subresource == "scale" else res.kind)
        if r.subresource == "scale":
            scale = await self.handlers.update_scale(res, r.namespace, r.name, lambda _cur: obj, opts)
            return json_response(scale, 200, _warning_headers(opts))
        if r.subresource == "finalize" and res.plural == "namespaces":
            stored, code = await self.handlers.finalize_namespace(r.name, obj, opts)
            return self.obj_response(req, res, stored, code, opts)
        if r.subresource not in ("", "status"):
            raise MethodNotAllowed()
        await self.find_duplicates(req, obj, opts)
        stored, code = await self.handlers.update(res, r.namespace, r.name, obj, opts, r.subresource)
        if not r.subresource:
            self.warn_not_enforced(res, opts)
        return self.obj_response(req, res, stored, code, opts)

    async def patch(self, req: Request, res: ResourceInfo, r: Route) -> Response:
        assert r.name is not None
        opts = self.options(req)
        body = await req.body()
        ct = req.content_type
        if ct not in ("application/json-patch+json", "application/merge-patch+json",
                      "application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            raise errors.UnsupportedMediaType(ct)
        force = req.flag("force")
        if r.subresource == "scale":
            from apimachinery.patch import json_patch, merge_patch
            doc = objects.decode_body(body, ct)

            def change(scale: dict[str, Any]) -> dict[str, Any]:
                if ct == "application/json-patch+json":
                    return json_patch.apply(scale, doc)
                return merge_patch.apply(scale, doc)
            scale = await self.handlers.update_scale(res, r.namespace, r.name, change, opts)
            return json_response(scale, 200, _warning_headers(opts))
        if r.subresource not in ("", "status"):
            raise MethodNotAllowed()
        if opts.field_validation != "Ignore" and ct in ("application/merge-patch+json",
                                                        "application/strategic-merge-patch+json"):
            await self.find_duplicates(req, objects.decode_body(body, ct), opts)
        existed = True
        if ct == "application/apply-patch+yaml":
            existed = await self.store.get(key_for(res, r.namespace, r.name)) is not None
        stored, code = await self.handlers.patch(res, r.namespace, r.name, body, ct, opts, r.subresource, force)
        if not r.subresource:
            self.warn_not_enforced(res, opts)
        return self.obj_response(req, res, stored, 200 if existed else 201, opts)

    async def delete_options(self, req: Request) -> dict[str, Any]:
        body = await req.body()
        opts: dict[str, Any] = {}
        if body.strip():
            opts = objects.decode_object(body, req.content_type or "application/json")
        for q, key in (("gracePeriodSeconds", "gracePeriodSeconds"), ("propagationPolicy", "propagationPolicy"),
                       ("orphanDependents", "orphanDependents")):
            v = req.arg(q)
            if v is not None and key not in opts:
                opts[key] = int(v) if q == "gracePeriodSeconds" else (v == "true" if q == "orphanDependents" else v)
        return opts

    async def delete(self, req: Request, res: ResourceInfo, r: Route) -> Response:
        assert r.name is not None
        if r.subresource:
            raise MethodNotAllowed()
        opts = await self.delete_options(req)
        dry = bool(req.args("dryRun")) or opts.get("dryRun") == ["All"]
        stored, code, immediately = await self.handlers.delete(res, r.namespace, r.name, opts, dry)
        if immediately and (res.group, res.plural) not in RETURNS_DELETED_OBJECT:
            obj = stored.obj if isinstance(stored, KeyValue) else stored
            return json_response(_success({"name": r.name, "group": res.group, "kind": res.plural,
                                           "uid": obj["metadata"].get("uid")}), code)
        return self.obj_response(req, res, stored, code)

    async def delete_collection(self, req: Request, res: ResourceInfo, namespace: str | None) -> Response:
        if "deletecollection" not in res.verbs:
            raise MethodNotAllowed()
        label_sel, field_sel = self.selectors(req, res)
        opts = await self.delete_options(req)
        dry = bool(req.args("dryRun"))
        items, revision, _, _ = await self.handlers.list(res, namespace, label_selector=label_sel,
                                                         field_selector=field_sel)
        deleted = []
        for kv in items:
            m = kv.obj["metadata"]
            try:
                stored, _, _ = await self.handlers.delete(res, m.get("namespace"), m["name"], opts, dry)
            except errors.NotFound:
                continue
            deleted.append(stored.raw if isinstance(stored, KeyValue) else orjson.dumps(stored))
        body = b"".join((b'{"kind":"', res.list_kind.encode(), b'","apiVersion":"', res.api_version.encode(),
                         b'","metadata":{"resourceVersion":"', str(revision).encode(), b'"},"items":[',
                         b",".join(deleted), b"]}"))
        return raw_response(body)

    async def review(self, req: Request, res: ResourceInfo) -> Response:
        obj = await self.body_object(req)
        user = req.user
        status: dict[str, Any]
        if res.kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
            spec = obj.get("spec") or {}
            subject = user if res.kind == "SelfSubjectAccessReview" else {
                "username": spec.get("user", ""), "groups": spec.get("groups") or []}
            ra = spec.get("resourceAttributes") or {}
            nra = spec.get("nonResourceAttributes") or {}
            attrs = Attributes(verb=ra.get("verb") or nra.get("verb") or "", group=ra.get("group", ""),
                               resource=ra.get("resource", ""), subresource=ra.get("subresource", ""),
                               namespace=ra.get("namespace", ""), name=ra.get("name", ""), path=nra.get("path", ""))
            allowed, reason = self.authorizer.authorize(subject, attrs)
            status = {"allowed": allowed}
            if reason:
                status["reason"] = reason
        elif res.kind == "SelfSubjectRulesReview":
            everything = isinstance(self.authorizer, AlwaysAllow)
            status = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}] if everything else
                      [], "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}] if everything else [],
                      "incomplete": False}
        elif res.kind == "SelfSubjectReview":
            status = {"userInfo": {k: v for k, v in user.items() if k in ("username", "uid", "groups", "extra")}}
        elif res.kind == "TokenReview":
            spec = obj.get("spec") or {}
            token = spec.get("token", "")
            wanted = spec.get("audiences") or list(API_AUDIENCES)
            u = await self.authenticator.authenticate(token, wanted)
            status = {"authenticated": u is not None}
            if u is not None:
                status["user"] = {k: v for k, v in u.items() if k in ("username", "uid", "groups", "extra")}
                claims = self.authenticator.verify(token) if token.count(".") == 2 else None
                status["audiences"] = audiences_of(claims, wanted) if claims is not None else wanted
        else:
            raise MethodNotAllowed()
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        obj.setdefault("metadata", {})["creationTimestamp"] = None
        obj["status"] = status
        return json_response(obj, 201)

    async def node_proxy(self, req: Request, res: ResourceInfo, r: Route) -> Response:
        try:
            from apiserver.proxy import proxy_to_kubelet
        except ImportError:
            raise MethodNotAllowed() from None
        return await proxy_to_kubelet(self, req, res, r)

    # ------------------------------------------------------------------ discovery

    def discovery(self, req: Request, r: Route) -> Response:
        from apiserver import discovery as d
        path = req.path.rstrip("/")
        accept = req.headers.get("accept", "")
        gen = self.registry.generation
        if path in ("/api", "/apis") and d.wants_aggregated(accept):
            key = ("agg", path, gen)
            if key not in self._disc_cache:
                self._disc_cache[key] = (orjson.dumps(d.aggregated_discovery(self.registry, path == "/api")), "")
            return Response(200, self._disc_cache[key][0], content_type=d.AGGREGATED_CONTENT_TYPE.encode(),
                            headers=[(b"vary", b"Accept")])
        if path == "/api":
            return json_response(d.api_versions())
        if path == "/apis":
            return json_response(d.api_group_list(self.registry))
        if not r.version:
            if r.group not in self.registry.groups():
                raise NotFound(message="the server could not find the requested resource")
            return json_response(d.api_group(self.registry, r.group))
        key = ("legacy", r.group, r.version, gen)
        if key not in self._disc_cache:
            self._disc_cache[key] = (orjson.dumps(d.api_resource_list(self.registry, r.group, r.version)), "")
        return raw_response(self._disc_cache[key][0])

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.bootstrap()
        from apiserver import openapi
        # Build the OpenAPI documents (and import the client's models) off the event loop,
        # before the first kubectl asks.
        self._warm = asyncio.create_task(asyncio.to_thread(openapi.warm, self.registry))
        self._reaper = asyncio.create_task(self.reap_pods())
        from apiserver.crds import CRDController
        self.crds = CRDController(self)
        await self.crds.start()
        self.ready = True

    @property
    def warm_done(self) -> bool:
        return self._warm is not None and self._warm.done()

    async def warmed(self) -> None:
        """Wait until the start-up warm-up (OpenAPI documents, the client's models) is done:
        benchmarks wait, so that it does not share their timed CPU."""
        if self._warm is not None:
            await asyncio.shield(self._warm)

    async def stop(self) -> None:
        self.ready = False
        if self._reaper is not None:
            self._reaper.cancel()
        if getattr(self, "crds", None) is not None:
            await self.crds.stop()

    async def bootstrap(self) -> None:
        """The namespaces every Kubernetes cluster starts with."""
        ns = self.registry.by_resource("", "v1", "namespaces")
        assert ns is not None
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if await self.store.get(key_for(ns, None, name)) is None:
                try:
                    await self.handlers.create(ns, None, {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": name}}, Options())
                except errors.AlreadyExists:
                    pass
        svc = self.registry.by_resource("", "v1", "services")
        assert svc is not None
        if await self.store.get(key_for(svc, "default", "kubernetes")) is None:
            try:
                await self.handlers.create(svc, "default", {
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                    "spec": {"type": "ClusterIP", "clusterIP": KUBERNETES_SERVICE_IP, "sessionAffinity": "None",
                             "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
                }, Options())
            except errors.AlreadyExists:
                pass

    async def reap_pods(self) -> None:
        """Pods whose grace period ran out and that no kubelet removed are deleted, as the
        issue asks ("the object stays until the kubelet or the grace period removes it").
        The kubelet kills the containers when the grace period ends and then deletes the pod
        itself; the reaper waits REAP_SLACK longer so that it never races a live kubelet, and
        only pods of a dead or missing kubelet are left to it."""
        pods = self.registry.by_resource("", "v1", "pods")
        assert pods is not None
        while True:
            await asyncio.sleep(1.0)
            try:
                result = await self.store.list(prefix_for(pods, None))
                now = objects.now()
                for kv in result.items:
                    m = kv.obj["metadata"]
                    ts = m.get("deletionTimestamp")
                    if ts and not m.get("finalizers") and objects.parse_time(ts) + REAP_SLACK <= now:
                        try:
                            await self.handlers.delete(pods, m["namespace"], m["name"], {"gracePeriodSeconds": 0})
                        except StatusError:
                            pass
            except Exception:
                log.exception("pod reaper")


def _as_version(res: ResourceInfo, raw: bytes) -> bytes:
    """A stored object as the version asked for: built-ins served in several versions are
    converted (apiserver/conversion.py); custom resources of CRDs with several versions share
    storage (conversion None changes only apiVersion); everything else passes untouched."""
    if has_conversion(res.group):
        obj = orjson.loads(raw)
        converted = convert(obj, res.api_version)
        return raw if converted is obj else orjson.dumps(converted)
    if len(getattr(res, "all_versions", ())) < 2:
        return raw
    return crds.as_version(res, raw)


def _success(details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = {k: v for k, v in details.items() if v not in (None, "")}
    return body


def _warning_headers(opts: Options | None) -> list[tuple[bytes, bytes]]:
    if not opts or not opts.warnings:
        return []
    return [(b"warning", ('299 - "' + w.replace('"', '\\"') + '"').encode()) for w in opts.warnings]


_KEY_END = re.compile(rb'"\s*:')
_SPACED_KEY_END = re.compile(rb'"\s+:')


def duplicate_fields(body: bytes, decoded: Any) -> list[str]:
    """The keys that occur twice in one object of a JSON `body` (`decoded` is what the parser
    made of it). Every key ends with `":`, so a body with no more of those than `decoded`
    written out again has no duplicate (string values hold the same `\":` in both), and only
    otherwise is it parsed again, keeping every pair. Bodies with a space before a colon are
    counted against the keys themselves."""
    if not body.lstrip().startswith(b"{"):
        return []
    if _SPACED_KEY_END.search(body) is None:
        if body.count(b'":') <= orjson.dumps(decoded).count(b'":'):
            return []
    elif len(_KEY_END.findall(body)) <= _count_keys(decoded):
        return []
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                found.append(key)
            seen.add(key)
        return dict(items)
    try:
        json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return []
    return found


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_keys(v) for v in value)
    return 0


def _int_arg(req: Request, name: str) -> int:
    v = req.arg(name)
    if not v:
        return 0
    try:
        return int(v)
    except ValueError:
        raise BadRequest(f"invalid {name}: {v}") from None


def _misc_app(server: APIServer) -> FastAPI:
    """Everything outside /api and /apis: version, health, metrics, OpenAPI."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def status_json(err: StatusError) -> FastResponse:
        return FastResponse(orjson.dumps(err.status()), err.code, media_type="application/json")

    async def authed(request: FastRequest) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and await server.authenticator.authenticate(auth[7:].strip()) is not None

    @app.get("/version")
    async def version() -> FastResponse:
        from apiserver.discovery import version_info
        return FastResponse(orjson.dumps(version_info()), media_type="application/json")

    async def health(request: FastRequest, name: str) -> FastResponse:
        """kube-apiserver's /healthz, /livez and /readyz: each check `[+]name ok` or
        `[-]name failed: reason withheld`, "ok" alone unless ?verbose, 500 if one failed.
        The store answers for `etcd`; /readyz also waits for the informers and for the
        OpenAPI documents (a post-start hook: until then kubectl's first explain or apply
        would wait for them)."""
        checks = [("ping", True), ("etcd", server.store.failure() is None)]
        if name == "readyz":
            checks += [("informer-sync", server.ready),
                       ("poststarthook/apiservice-openapiv3-controller", server.warm_done)]
        lines = "".join(f"[+]{check} ok\n" if ok else f"[-]{check} failed: reason withheld\n" for check, ok in checks)
        if not all(ok for _, ok in checks):
            return FastResponse(f"{lines}{name} check failed\n".encode(), 500, media_type="text/plain",
                                headers={"X-Content-Type-Options": "nosniff"})
        if "verbose" not in request.query_params:
            return FastResponse(b"ok", media_type="text/plain")
        return FastResponse(f"{lines}{name} check passed\n".encode(), media_type="text/plain")

    @app.get("/healthz")
    async def healthz(request: FastRequest) -> FastResponse:
        return await health(request, "healthz")

    @app.get("/livez")
    async def livez(request: FastRequest) -> FastResponse:
        return await health(request, "livez")

    @app.get("/readyz")
    async def readyz(request: FastRequest) -> FastResponse:
        return await health(request, "readyz")

    @app.get("/metrics")
    async def metrics(request: FastRequest) -> FastResponse:
        if not await authed(request):
            return status_json(errors.Unauthorized())
        return FastResponse(server.metrics.render().encode(), media_type="text/plain; version=0.0.4")

    @app.get("/openapi/v3")
    async def openapi_index(request: FastRequest) -> FastResponse:
        if not await authed(request):
            return status_json(errors.Unauthorized())
        from apiserver.openapi import openapi_v3_index
        return FastResponse(orjson.dumps(openapi_v3_index(server.registry)), media_type="application/json")

    @app.get("/openapi/v3/{path:path}")
    async def openapi_doc(path: str, request: FastRequest) -> FastResponse:
        if not await authed(request):
            return status_json(errors.Unauthorized())
        from apiserver.openapi import openapi_v3_path_document
        found = openapi_v3_path_document(server.registry, path)
        if found is None:
            return status_json(NotFound(message="the server could not find the requested resource"))
        doc, digest = found
        etag = f'"{digest}"'
        if request.headers.get("if-none-match") == etag:
            return FastResponse(status_code=304, headers={"ETag": etag})
        return FastResponse(doc, media_type="application/json",
                            headers={"ETag": etag, "Cache-Control": "public, immutable" if
                                     request.query_params.get("hash") else "no-cache, private"})

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def fallback(path: str, request: FastRequest) -> FastResponse:
        if not await authed(request):
            return status_json(errors.Unauthorized())
        return status_json(NotFound(message="the server could not find the requested resource"))

    return app
