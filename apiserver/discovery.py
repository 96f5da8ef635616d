"""Discovery documents: `/version`, legacy discovery (`/api`, `/api/v1`, `/apis`, `/apis/<g>`,
`/apis/<g>/<v>`) and aggregated discovery (`apidiscovery.k8s.io/v2 APIGroupDiscoveryList`).

kubectl, the Python client and kopf learn every resource's URL, scope, verbs, short names and
categories from these documents, so they are generated from the resource table (the registry
given, built-ins plus CRDs added at run time) and never written by hand. kubectl uses the
aggregated form only when the response Content-Type is exactly `AGGREGATED_CONTENT_TYPE`;
otherwise it walks the legacy documents, which the other clients always use.

Pure functions of the registry: no web framework, no I/O. Building is cheap but not free, so
callers keep the results in a `DocumentCache` keyed by the registry's generation (a number the
caller bumps whenever it adds or removes a resource). This module must never decide routing or
authorisation: it only describes what the registry holds."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from apimachinery.resources import ResourceInfo, Subresource

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

# The Kubernetes release this server answers as. kubectl warns when the skew to its own minor
# version is over one, and the Python client's VersionInfo model requires every field below.
KUBERNETES_MAJOR = "1"
KUBERNETES_MINOR = "32"
KUBERNETES_PATCH = "4"
GIT_VERSION = f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.{KUBERNETES_PATCH}+mizzen"

Document = dict[str, Any]


def version_info() -> Document:
    """`GET /version`: a `version.Info` as kube-apiserver v1.32 sends it. gitVersion carries
    semver build metadata (`+mizzen`, as k3s writes `+k3s1`), which every client's parser
    accepts. (emulationMajor/Minor arrived after v1.32: not sent.)"""
    return {
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


# -- legacy discovery -------------------------------------------------------------------


def _core(registry: Iterable[ResourceInfo]) -> list[ResourceInfo]:
    return [r for r in registry if r.group == ""]


def _groups(registry: Iterable[ResourceInfo]) -> dict[str, list[str]]:
    """Named groups in registry order, each with its versions, preferred (first listed) first."""
    groups: dict[str, list[str]] = {}
    for r in registry:
        if r.group:
            versions = groups.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
    return groups


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _gv_for_discovery(group: str, version: str) -> Document:
    return {"groupVersion": _group_version(group, version), "version": version}


def _server_addresses(server_address: str) -> list[Document]:
    return [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]


def api_versions(registry: Iterable[ResourceInfo] = (), server_address: str = "127.0.0.1:6443") -> Document:
    """`GET /api` (legacy): the core group's versions."""
    versions = list(dict.fromkeys(r.version for r in _core(registry))) or ["v1"]
    return {
        "kind": "APIVersions",
        "versions": versions,
        "serverAddressByClientCIDRs": _server_addresses(server_address),
    }


def _api_group(group: str, versions: list[str]) -> Document:
    return {
        "name": group,
        "versions": [_gv_for_discovery(group, v) for v in versions],
        "preferredVersion": _gv_for_discovery(group, versions[0]),
    }


def api_group_list(registry: Iterable[ResourceInfo]) -> Document:
    """`GET /apis` (legacy): every named group with its versions and preferred version."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_api_group(g, vs) for g, vs in _groups(registry).items()],
    }


def api_group(registry: Iterable[ResourceInfo], group: str) -> Document | None:
    """`GET /apis/<group>`; None when the group is not served (the caller answers 404)."""
    versions = _groups(registry).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, versions)}


def storage_version_hash(r: ResourceInfo) -> str:
    """Kubernetes publishes the first 8 bytes of a SHA-256 over the storage version's
    group/version/kind, base64-encoded; clients only compare it for changes."""
    digest = hashlib.sha256(f"{r.group}/{r.version}/{r.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _sub_kind(r: ResourceInfo, s: Subresource) -> tuple[str, str, str]:
    """(group, version, kind) of a subresource's response; group and version stay empty when
    they are the parent's, as Kubernetes writes them."""
    if (s.group or r.group) == r.group and (s.version or r.version) == r.version:
        return "", "", s.kind
    return s.group, s.version or "v1", s.kind


def _legacy_resource(r: ResourceInfo) -> Document:
    doc: Document = {
        "name": r.plural,
        "singularName": r.singular_name,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        doc["shortNames"] = list(r.short_names)
    if r.categories:
        doc["categories"] = list(r.categories)
    if r.stored:
        doc["storageVersionHash"] = storage_version_hash(r)
    return doc


def _legacy_subresource(r: ResourceInfo, s: Subresource) -> Document:
    group, version, kind = _sub_kind(r, s)
    doc: Document = {"name": f"{r.plural}/{s.name}", "singularName": "", "namespaced": r.namespaced}
    if group or version:
        doc["group"] = group
        doc["version"] = version
    doc["kind"] = kind
    doc["verbs"] = list(s.verbs)
    return doc


def _in_group_version(registry: Iterable[ResourceInfo], group: str, version: str) -> list[ResourceInfo]:
    return sorted((r for r in registry if r.group == group and r.version == version), key=lambda r: r.plural)


def api_resource_list(registry: Iterable[ResourceInfo], group: str, version: str) -> Document | None:
    """`GET /api/v1` or `/apis/<g>/<v>`: an APIResourceList, subresources as `pods/status`
    entries; None when the group-version is not served."""
    resources = _in_group_version(registry, group, version)
    if not resources:
        return None
    entries: list[Document] = []
    for r in resources:
        entries.append(_legacy_resource(r))
        entries.extend(_legacy_subresource(r, s) for s in sorted(r.subresources, key=lambda s: s.name))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": _group_version(group, version),
        "resources": entries,
    }


# -- aggregated discovery ---------------------------------------------------------------


def _response_kind(group: str, version: str, kind: str) -> Document:
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(r: ResourceInfo) -> Document:
    doc: Document = {
        "resource": r.plural,
        "responseKind": _response_kind("", "", r.kind),
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular_name,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        doc["shortNames"] = list(r.short_names)
    if r.categories:
        doc["categories"] = list(r.categories)
    if r.subresources:
        doc["subresources"] = [
            {"subresource": s.name, "responseKind": _response_kind(*_sub_kind(r, s)), "verbs": list(s.verbs)}
            for s in sorted(r.subresources, key=lambda s: s.name)
        ]
    return doc


def _discovery_group(registry: list[ResourceInfo], group: str, versions: list[str]) -> Document:
    return {
        "metadata": {"name": group, "creationTimestamp": None},
        "versions": [
            {
                "version": v,
                "resources": [_aggregated_resource(r) for r in _in_group_version(registry, group, v)],
                "freshness": "Current",
            }
            for v in versions
        ],
    }


def aggregated_discovery(registry: Iterable[ResourceInfo], legacy_core: bool) -> Document:
    """The `APIGroupDiscoveryList` for `/api` (legacy_core: the core group alone, named "")
    or for `/apis` (every named group). Versions are listed preferred first."""
    resources = list(registry)
    if legacy_core:
        versions = list(dict.fromkeys(r.version for r in _core(resources)))
        items = [_discovery_group(resources, "", versions)] if versions else []
    else:
        items = [_discovery_group(resources, g, vs) for g, vs in _groups(resources).items()]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """Accept header entries in the client's order of preference: (type, params, q)."""
    entries: list[tuple[int, str, dict[str, str], float]] = []
    for index, part in enumerate(accept.split(",")):
        media, *raw_params = (p.strip() for p in part.split(";"))
        params: dict[str, str] = {}
        for p in raw_params:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        if media:
            entries.append((index, media.lower(), params, q))
    entries.sort(key=lambda e: (-e[3], e[0]))
    return [(media, params, q) for _, media, params, q in entries if q > 0]


def wants_aggregated(accept_header: str | None) -> bool:
    """True when the client prefers `apidiscovery.k8s.io/v2 APIGroupDiscoveryList` as JSON to
    anything else this server can send (plain JSON, `*/*`). Protobuf and the v2beta1 form are
    not served, so those entries are skipped."""
    if not accept_header:
        return False
    for media, params, _ in _media_ranges(accept_header):
        if media != "application/json" and media not in ("*/*", "application/*"):
            continue
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if params.get("v") == "v2":
                return True
            continue  # a version we do not serve
        if not params or "g" not in params:
            return False  # plain JSON (or anything) preferred: legacy discovery
    return False


# -- caching ----------------------------------------------------------------------------


class DocumentCache:
    """Encoded documents memoised until the registry's generation changes.

        cache = DocumentCache()
        body = cache.json(generation, aggregated_discovery, registry, False)

    Arguments after the builder must be hashable apart from the registry itself, which is
    identified by the generation: the caller bumps it whenever resources are added or
    removed, and every document is rebuilt lazily on next use."""

    def __init__(self) -> None:
        self._generation: object = object()
        self._bodies: dict[tuple[Any, ...], bytes | None] = {}

    def json(self, generation: object, builder: Callable[..., Document | None], *args: Any) -> bytes | None:
        """The builder's document as JSON bytes (None when the builder returns None)."""
        if generation != self._generation:
            self._bodies.clear()
            self._generation = generation
        key = (builder, *(a if _hashable(a) else id(a) for a in args))
        if key not in self._bodies:
            doc = builder(*args)
            self._bodies[key] = None if doc is None else orjson.dumps(doc)
        return self._bodies[key]


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
