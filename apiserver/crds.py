"""CustomResourceDefinitions: the controller inside the API server that turns stored CRDs
into served resources, and the strategy that validates, defaults and prunes custom resources
from their CRD's structural schema (apiserver.crd_schema).

Kubernetes splits this over the apiextensions-apiserver's naming, establishing and
finalizer controllers; here one asyncio task watches
`/registry/apiextensions.k8s.io/customresourcedefinitions/` (those present at start first)
and, per CRD: registers one `CustomResourceInfo` per served version in the server's
`Registry` (routing, discovery and OpenAPI read it), adds the
`customresourcecleanup.apiextensions.k8s.io` finalizer, and writes `status.acceptedNames`,
`status.storedVersions` and the NamesAccepted/Established conditions. A deleted CRD
(deletionTimestamp set, thanks to the finalizer) gets the Terminating condition, stops being
served, has every custom resource deleted, then loses its finalizer and goes away.

Custom resources of every version share the storage key `/registry/<group>/<plural>/...`;
the conversion strategy is None (only apiVersion changes), as a CRD without webhook has.

What this module must never do: block the event loop, or write a CRD it has nothing to change
on (its own writes come back as watch events: syncing must reach a fixed point).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from apimachinery import errors
from apimachinery.errors import Cause
from apimachinery.resources import ResourceInfo, Subresource, storage_kind_key
from apiserver import crd_schema, objects
from apiserver.registry.others import CustomResourceDefinitionStrategy
from apiserver.registry.strategy import CustomResourceStrategy
from apiserver.storage import KeyValue

if TYPE_CHECKING:
    from apiserver.app import APIServer

log = logging.getLogger(__name__)

JSON = dict[str, Any]
CRD_PREFIX = "/registry/apiextensions.k8s.io/customresourcedefinitions/"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class CustomResourceInfo(ResourceInfo):
    """A resource a CRD serves: the built-in entry plus what only a CRD knows."""

    crd_name: str = ""
    openapi_schema: JSON | None = field(default=None, compare=False)
    printer_columns: list[JSON] = field(default_factory=list, compare=False)
    # specReplicasPath, statusReplicasPath, labelSelectorPath (".spec.replicas" ...)
    scale_paths: tuple[str, str, str] | None = None
    list_kind_name: str = ""
    # every version the CRD serves (several: stored objects are shown as the version asked for)
    all_versions: tuple[str, ...] = ()

    @property
    def list_kind(self) -> str:
        return self.list_kind_name or self.kind + "List"

    def unknown_fields(self, obj: JSON) -> list[str]:
        """Fields the schema prunes (fieldValidation reports them as unknown)."""
        if self.openapi_schema is None:
            return []
        return crd_schema.unknown_fields(self.openapi_schema, obj)

    def scale_of(self, obj: JSON) -> JSON:
        """The autoscaling/v1 Scale from the CRD's scale paths."""
        assert self.scale_paths is not None
        spec_path, status_path, selector_path = self.scale_paths
        m = obj.get("metadata") or {}
        replicas = get_path(obj, spec_path)
        scale: JSON = {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in m},
            "spec": {"replicas": replicas if isinstance(replicas, int) else 0},
            "status": {"replicas": get_path(obj, status_path) or 0},
        }
        selector = get_path(obj, selector_path) if selector_path else None
        if isinstance(selector, str) and selector:
            scale["status"]["selector"] = selector
        return scale

    def set_replicas(self, obj: JSON, replicas: int) -> None:
        assert self.scale_paths is not None
        set_path(obj, self.scale_paths[0], replicas)


def get_path(obj: Any, path: str) -> Any:
    """`.spec.replicas` → obj["spec"]["replicas"] (None when absent)."""
    for key in [p for p in path.split(".") if p]:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def set_path(obj: JSON, path: str, value: Any) -> None:
    keys = [p for p in path.split(".") if p]
    for key in keys[:-1]:
        nxt = obj.get(key)
        if not isinstance(nxt, dict):
            nxt = obj[key] = {}
        obj = nxt
    obj[keys[-1]] = value


# ------------------------------------------------------------------------------ decisions

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(name: str) -> tuple[int, int, int, str]:
    """Kubernetes' version order (most preferred first as the sort key grows smaller):
    GA before beta before alpha, higher numbers first, then other names alphabetically:
    v2, v1, v1beta2, v1beta1, v1alpha1, foo."""
    m = _VERSION.match(name)
    if m is None:
        return (3, 0, 0, name)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -major, -minor, "")


def resources_for(crd: JSON) -> list[CustomResourceInfo]:
    """One entry per served version, the preferred version (by `version_priority`, as
    Kubernetes' discovery orders them) first."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    kind = names.get("kind") or ""
    out: list[CustomResourceInfo] = []
    for v in spec.get("versions") or []:
        if not isinstance(v, dict) or not v.get("served"):
            continue
        subs: list[Subresource] = []
        sr = v.get("subresources") or {}
        scale_paths = None
        if isinstance(sr.get("scale"), dict):
            sc = sr["scale"]
            subs.append(Subresource("scale", "Scale", "autoscaling", "v1"))
            scale_paths = (sc.get("specReplicasPath") or ".spec.replicas",
                           sc.get("statusReplicasPath") or ".status.replicas", sc.get("labelSelectorPath") or "")
        if "status" in sr:
            subs.append(Subresource("status", kind))
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        out.append(CustomResourceInfo(
            group=group, version=v.get("name") or "", kind=kind, plural=plural,
            namespaced=spec.get("scope") != "Cluster", short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()), subresources=tuple(subs),
            singular=names.get("singular") or kind.lower(), crd_name=(crd.get("metadata") or {}).get("name", ""),
            openapi_schema=schema if isinstance(schema, dict) else None,
            printer_columns=[c for c in v.get("additionalPrinterColumns") or [] if isinstance(c, dict)],
            scale_paths=scale_paths, list_kind_name=names.get("listKind") or ""))
    out.sort(key=lambda r: version_priority(r.version))
    served = tuple(r.version for r in out)
    return [dataclasses.replace(r, all_versions=served) for r in out]


def as_version(res: ResourceInfo, raw: bytes) -> bytes:
    """A stored object (JSON) with the apiVersion of `res`: conversion strategy None."""
    obj = orjson.loads(raw)
    if not isinstance(obj, dict) or obj.get("apiVersion") == res.api_version:
        return raw
    obj["apiVersion"] = res.api_version
    return orjson.dumps(obj)


def name_conflicts(crd: JSON, registry: Any) -> str:
    """Why the CRD's names cannot be accepted ("" when they can): another resource of the
    group already uses the plural or the kind."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group") or "", names.get("plural") or "", names.get("kind") or ""
    me = (crd.get("metadata") or {}).get("name", "")
    for r in registry:
        if r.group != group or getattr(r, "crd_name", None) == me:
            continue
        if r.plural == plural:
            return f'"{plural}" is already in use'
        if r.kind == kind:
            return f'"{kind}" is already in use'
    return ""


def _condition(type_: str, status: str, reason: str, message: str, old: list[JSON], now: str) -> JSON:
    for c in old:
        if c.get("type") == type_ and c.get("status") == status:
            return {**c, "reason": reason, "message": message}
    return {"type": type_, "status": status, "lastTransitionTime": now, "reason": reason, "message": message}


def desired_status(crd: JSON, conflict: str, now: str) -> JSON:
    """The status the CRD should have: acceptedNames, storedVersions (the storage version
    added to those recorded), NamesAccepted and Established (or Terminating)."""
    spec = crd.get("spec") or {}
    status = copy.deepcopy(crd.get("status") or {})
    old = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    names = copy.deepcopy(spec.get("names") or {})
    if names:
        names.setdefault("singular", (names.get("kind") or "").lower())
        names.setdefault("listKind", (names.get("kind") or "") + "List")
    conditions: list[JSON] = []
    if conflict:
        conditions.append(_condition("NamesAccepted", "False", "PluralConflict" if "is already" in conflict
                                     else "NameConflict", conflict, old, now))
        conditions.append(_condition("Established", "False", "NotAccepted", "not all names are accepted", old, now))
        status["acceptedNames"] = status.get("acceptedNames") or {"kind": "", "plural": ""}
    else:
        conditions.append(_condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", old, now))
        conditions.append(_condition("Established", "True", "InitialNamesAccepted",
                                     "the initial names have been accepted", old, now))
        status["acceptedNames"] = names
    if (crd.get("metadata") or {}).get("deletionTimestamp"):
        conditions.append(_condition("Terminating", "True", "InstanceDeletionInProgress",
                                     "CustomResource deletion is in progress", old, now))
    status["conditions"] = conditions
    stored = list(status.get("storedVersions") or [])
    for v in spec.get("versions") or []:
        if isinstance(v, dict) and v.get("storage") and v.get("name") not in stored:
            stored.append(v.get("name"))
    status["storedVersions"] = stored
    return status


def validate_schemas(crd: JSON) -> list[Cause]:
    """Structural-schema basics of every version (the CRD strategy checks names and versions)."""
    causes: list[Cause] = []
    for i, v in enumerate((crd.get("spec") or {}).get("versions") or []):
        if not isinstance(v, dict):
            continue
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        path = f"spec.versions[{i}].schema.openAPIV3Schema"
        if schema is None:
            causes.append(errors.Cause(path, "Required value: schemas are required", "FieldValueRequired"))
            continue
        causes += crd_schema.structural_errors(schema, path)
    return causes


# ------------------------------------------------------------------------------ strategies

class CRDStrategy(CustomResourceDefinitionStrategy):
    """The CRD's own rules plus structural schemas (a v1 CRD needs one per version)."""

    def validate_spec(self, obj: JSON) -> list[Cause]:
        return super().validate_spec(obj) + validate_schemas(obj)


class SchemaStrategy(CustomResourceStrategy):
    """A custom resource against its version's schema: pruned, defaulted, validated."""

    resource: CustomResourceInfo

    def default(self, obj: JSON) -> None:
        schema = self.resource.openapi_schema
        if schema is not None:
            crd_schema.prune(schema, obj)
            crd_schema.default(schema, obj)

    def validate_spec(self, obj: JSON) -> list[Cause]:
        schema = self.resource.openapi_schema
        return crd_schema.validate(schema, obj) if schema is not None else []

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        return self.validate_spec(new)


_STRATEGIES: dict[Any, Any] = {}


def strategy_for(res: ResourceInfo) -> Any:
    """The strategy for a custom resource or the CRD kind itself; None for other kinds."""
    if isinstance(res, CustomResourceInfo):
        cls: type = SchemaStrategy
    elif res.group == "apiextensions.k8s.io" and res.kind == "CustomResourceDefinition":
        cls = CRDStrategy
    else:
        return None
    key = (res.group, res.version, res.plural)
    s = _STRATEGIES.get(key)
    if s is None or s.resource is not res:
        s = _STRATEGIES[key] = cls(res)
    return s


# ------------------------------------------------------------------------------ controller

class CRDController:
    """Keeps the server's registry in step with the stored CRDs (see the module docstring)."""

    def __init__(self, server: APIServer):
        self.server = server
        self.store = server.store
        self.registry = server.registry
        crd_res = self.registry.by_resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd_res is not None
        self.crd_res = crd_res
        self.served: dict[str, list[CustomResourceInfo]] = {}
        self._task: asyncio.Task[None] | None = None
        self._retries: dict[str, asyncio.TimerHandle] = {}

    async def start(self) -> None:
        """Serve every stored CRD before returning, then follow changes."""
        result = await self.store.list(CRD_PREFIX)
        for kv in result.items:
            await self.sync_safely(kv.obj)
        self._task = asyncio.create_task(self.run(result.revision))

    async def stop(self) -> None:
        for h in self._retries.values():
            h.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass

    async def run(self, revision: int) -> None:
        from apiserver.storage.base import CompactedError
        while True:
            try:
                async for ev in self.store.watch(CRD_PREFIX, revision):
                    revision = ev.revision
                    if ev.type == "DELETED":
                        self.unserve(ev.kv.obj["metadata"]["name"])
                    else:
                        await self.sync_safely(ev.kv.obj)
            except CompactedError:
                result = await self.store.list(CRD_PREFIX)
                names = {kv.obj["metadata"]["name"] for kv in result.items}
                for gone in set(self.served) - names:
                    self.unserve(gone)
                for kv in result.items:
                    await self.sync_safely(kv.obj)
                revision = result.revision
            await asyncio.sleep(0.1)  # the watch ended (store closing): do not spin

    async def sync_safely(self, crd: JSON) -> None:
        name = crd["metadata"]["name"]
        try:
            done = await self.sync(crd)
        except errors.Conflict:
            done = False  # a newer version is on its way as a watch event
        except Exception:
            log.exception("syncing CustomResourceDefinition %s", name)
            done = False
        if not done:
            self._retry_later(name)

    def _retry_later(self, name: str) -> None:
        if name in self._retries:
            return

        def fire() -> None:
            self._retries.pop(name, None)
            asyncio.ensure_future(self._resync(name))
        self._retries[name] = asyncio.get_running_loop().call_later(RETRY_SECONDS, fire)

    async def _resync(self, name: str) -> None:
        kv = await self.store.get(CRD_PREFIX + name)
        if kv is not None:
            await self.sync_safely(kv.obj)

    def unserve(self, name: str) -> None:
        for r in self.served.pop(name, []):
            if self.registry.by_resource(r.group, r.version, r.plural) is r or getattr(
                    self.registry.by_resource(r.group, r.version, r.plural), "crd_name", None) == name:
                self.registry.remove(r.group, r.version, r.plural)

    def serve(self, name: str, resources: list[CustomResourceInfo]) -> None:
        """Register the CRD's resources; when anything changed, all of them again, in
        preference order (the registry lists a group's versions in the order added)."""
        old = self.served.get(name, [])
        if [(r, r.openapi_schema, r.printer_columns) for r in old] == \
                [(r, r.openapi_schema, r.printer_columns) for r in resources]:
            return
        for r in old:
            self.registry.remove(r.group, r.version, r.plural)
        for r in resources:
            self.registry.add(r)
        self.served[name] = resources

    async def sync(self, crd: JSON) -> bool:
        """One pass; True when nothing is left to do for now."""
        from apiserver.handlers import Options
        m = crd["metadata"]
        name = m["name"]
        if m.get("deletionTimestamp"):
            return await self.finalize(crd)
        conflict = name_conflicts(crd, self.registry)
        if not conflict:
            self.serve(name, resources_for(crd))
        if CLEANUP_FINALIZER not in (m.get("finalizers") or []):
            def add_finalizer(cur: JSON) -> JSON:
                new = copy.deepcopy(cur)
                fin = new["metadata"].setdefault("finalizers", [])
                if CLEANUP_FINALIZER not in fin:
                    fin.append(CLEANUP_FINALIZER)
                return new
            await self.server.handlers.guaranteed_update(self.crd_res, None, name, add_finalizer, Options())
            return True  # the update comes back as an event
        return await self.write_status(crd, conflict)

    async def write_status(self, crd: JSON, conflict: str) -> bool:
        from apiserver.handlers import Options
        want = desired_status(crd, conflict, objects.rfc3339())
        if want == crd.get("status"):
            return True

        def transform(cur: JSON) -> JSON:
            new = copy.deepcopy(cur)
            new["status"] = desired_status(cur, conflict, objects.rfc3339())
            return new
        await self.server.handlers.guaranteed_update(self.crd_res, None, crd["metadata"]["name"], transform,
                                                     Options(), "status")
        return True

    async def finalize(self, crd: JSON) -> bool:
        """Terminating: stop serving, delete every custom resource, then drop the finalizer."""
        from apiserver.handlers import Options
        name = crd["metadata"]["name"]
        resources = self.served.get(name) or resources_for(crd)
        if CLEANUP_FINALIZER not in (crd["metadata"].get("finalizers") or []):
            self.unserve(name)
            return True
        await self.write_status(crd, "")
        left = 0
        if resources:
            res = resources[0]
            result = await self.store.list(f"/registry/{storage_kind_key(res)}/")
            for kv in result.items:
                left += 1
                om = kv.obj.get("metadata") or {}
                if om.get("deletionTimestamp"):
                    continue  # waits for its own finalizers
                try:
                    await self.server.handlers.delete(res, om.get("namespace"), om["name"], {})
                except errors.NotFound:
                    pass
            if left:
                remaining = await self.store.count(f"/registry/{storage_kind_key(res)}/")
                if remaining:
                    return False  # try again shortly
        self.unserve(name)

        def drop_finalizer(cur: JSON) -> JSON:
            new = copy.deepcopy(cur)
            new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or []
                                             if f != CLEANUP_FINALIZER]
            return new
        try:
            await self.server.handlers.guaranteed_update(self.crd_res, None, name, drop_finalizer, Options())
        except errors.NotFound:
            pass
        return True


__all__ = ["CLEANUP_FINALIZER", "CRDController", "CustomResourceInfo", "KeyValue", "desired_status",
           "name_conflicts", "resources_for", "strategy_for", "validate_schemas"]
