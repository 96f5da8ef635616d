"""Server-side apply and `metadata.managedFields`: which manager owns which field.

Kubernetes tracks, per manager, the set of fields it last set (structured-merge-diff). An
Update (create, PUT, any patch but apply) makes the manager own every field it changed and
takes those fields away from every other manager; it never conflicts. An Apply sends the
manager's whole intent: the applied configuration is merged into the live object (maps by
key, lists of type map by their key fields, sets by value, other lists replaced whole), the
manager's field set becomes exactly the fields of its configuration, fields it applied
before and applies no more are removed from the object unless someone else owns them, and
changing a field another manager owns is a conflict (409) unless forced, in which case
ownership moves.

The list semantics come from the kind's schema: `apimachinery.schema` for built-in kinds
(the merge keys of strategic merge patch, plus the few `listMapKeys` that differ, below);
kinds without a model (custom resources) merge maps and replace lists.

Client-side apply interoperates as the API server does it: `kubectl apply --server-side`
(manager `kubectl`) may take over fields whose live value is still the one recorded in the
`kubectl.kubernetes.io/last-applied-configuration` annotation, and it keeps that annotation
up to date when it exists, so that a later client-side apply computes the right patch.

This module is pure: it gets dicts and returns dicts, raises only `apimachinery.errors`
StatusErrors from `apply`, and never raises from `update` (a write must never fail because
of bookkeeping). It must never do I/O or keep state between calls, and never mutate `live`."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from apimachinery import schema
from apimachinery.errors import BadRequest, Cause, StatusError
from apiserver.fieldpath import (
    Path,
    ancestors,
    decode_fields_v1,
    element,
    element_order,
    encode_fields_v1,
    key_element,
    path_string,
    sorted_paths,
    value_element,
)

__all__ = [
    "BEFORE_FIRST_APPLY",
    "LAST_APPLIED",
    "MAX_UPDATE_MANAGERS",
    "FieldManager",
    "conflict_error",
    "decode_managed_fields",
    "encode_managed_fields",
]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10
# Only this manager's applies upgrade from, and keep updating, client-side apply's annotation.
KUBECTL_SSA_MANAGER = "kubectl"

# Fields no manager ever owns (the API server sets them).
IGNORED: frozenset[Path] = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    *(("f:metadata", "f:" + f) for f in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                         "clusterName", "generation", "managedFields", "resourceVersion")),
})

# `listType=map` keys that differ from the strategic-merge-patch merge key, and the defaults
# of key fields a configuration may omit (Kubernetes' schema defaults protocol to TCP).
LIST_MAP_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("V1Container", "ports"): ("containerPort", "protocol"),
    ("V1EphemeralContainer", "ports"): ("containerPort", "protocol"),
    ("V1ServiceSpec", "ports"): ("port", "protocol"),
    ("V1PodSpec", "topologySpreadConstraints"): ("topologyKey", "whenUnsatisfiable"),
}
KEY_DEFAULTS: dict[str, dict[str, Any]] = {
    "V1ContainerPort": {"protocol": "TCP"},
    "V1ServicePort": {"protocol": "TCP"},
}
# `+structType=atomic` / `+mapType=atomic`: owned and replaced as a whole.
ATOMIC_MODELS = frozenset({
    "V1LabelSelector", "V1ObjectReference", "V1LocalObjectReference", "V1TypedLocalObjectReference",
    "V1NodeSelector", "V1NodeSelectorTerm", "V1TopologySelectorTerm", "V1ConfigMapKeySelector",
    "V1SecretKeySelector", "V1ObjectFieldSelector", "V1ResourceFieldSelector",
})
ATOMIC_FIELDS = frozenset({
    ("V1ServiceSpec", "selector"), ("V1PodSpec", "nodeSelector"), ("V1ReplicationControllerSpec", "selector"),
})
# Fields a Go object always serializes (non-pointer structs, lists without omitempty): they
# exist in a kind's zero value, so writing into them never owns the struct or list itself.
# Nested structs are treated that way in general; these are the lists.
ALWAYS_PRESENT = frozenset({("V1PodSpec", "containers")})
# The pointer structs objects commonly carry (absent from the zero value, so owned themselves).
POINTER_STRUCTS = frozenset({
    ("V1DeploymentStrategy", "rollingUpdate"), ("V1DaemonSetUpdateStrategy", "rollingUpdate"),
    ("V1StatefulSetUpdateStrategy", "rollingUpdate"), ("V1PodSpec", "securityContext"),
    ("V1PodSpec", "affinity"), ("V1PodSpec", "dnsConfig"), ("V1Container", "securityContext"),
    ("V1Container", "livenessProbe"), ("V1Container", "readinessProbe"), ("V1Container", "startupProbe"),
    ("V1Container", "lifecycle"), ("V1JobSpec", "podFailurePolicy"), ("V1JobSpec", "successPolicy"),
    ("V1ServiceSpec", "sessionAffinityConfig"),
})
_SCALARS = frozenset({"str", "int", "bool", "float", "datetime", "date", "bytearray"})


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# ------------------------------------------------------------------------- schema view


@dataclass(frozen=True)
class _Type:
    """How server-side apply sees one value: `struct` (a model: its fields are declared),
    `map` (string keys, any number), `list`, `scalar`, or `deduced` (no schema: maps are
    granular, lists atomic)."""

    kind: str
    model: str | None = None
    elem: str | None = None  # type string of map values / list items
    atomic: bool = False
    list_type: str = "atomic"  # atomic | set | map
    keys: tuple[str, ...] = ()
    key_defaults: tuple[tuple[str, Any], ...] = ()

    @property
    def granular_map(self) -> bool:
        return self.kind in ("struct", "map", "deduced") and not self.atomic

    @property
    def granular_list(self) -> bool:
        return self.kind == "list" and self.list_type != "atomic"


DEDUCED = _Type("deduced")
SCALAR = _Type("scalar")


@functools.lru_cache(maxsize=4096)
def _resolve(type_string: str | None, owner: str | None = None, fld: str | None = None) -> _Type:
    if not type_string or type_string == "object":
        return DEDUCED
    if type_string in _SCALARS:
        return SCALAR
    if type_string.startswith("list["):
        elem = schema.value_type(type_string)
        keys: tuple[str, ...] = ()
        list_type = "atomic"
        if owner and fld:
            meta = schema.patch_meta(owner, fld)
            if (owner, fld) in LIST_MAP_KEYS:
                list_type, keys = "map", LIST_MAP_KEYS[(owner, fld)]
            elif meta and "merge" in meta[0].split(","):
                if meta[1]:
                    list_type, keys = "map", (meta[1],)
                else:
                    list_type = "set"
        defaults = KEY_DEFAULTS.get(schema.element_model(elem) or "", {})
        return _Type("list", elem=elem, list_type=list_type, keys=keys,
                     key_defaults=tuple((k, v) for k, v in defaults.items() if k in keys))
    if type_string.startswith("dict("):
        return _Type("map", elem=schema.value_type(type_string), atomic=(owner, fld) in ATOMIC_FIELDS)
    if schema.is_model(type_string):
        return _Type("struct", model=type_string, atomic=type_string in ATOMIC_MODELS)
    return DEDUCED


def _child(t: _Type, key: str) -> _Type:
    if t.kind == "struct":
        return _resolve(schema.field_type(t.model, key), t.model, key)
    if t.kind == "map":
        return _resolve(t.elem)
    return DEDUCED


def _item_type(t: _Type) -> _Type:
    return _resolve(t.elem) if t.kind == "list" else DEDUCED


def _item_element(t: _Type, item: Any, index: int) -> str:
    if t.list_type == "map" and isinstance(item, dict):
        key: dict[str, Any] = {}
        defaults = dict(t.key_defaults)
        for k in t.keys:
            if k in item and item[k] is not None:
                key[k] = item[k]
            elif k in defaults:
                key[k] = defaults[k]
            else:
                return f"i:{index}"
        return key_element(key)
    if t.list_type == "set" and not isinstance(item, (dict, list)):
        return value_element(item)
    return f"i:{index}"


def _index(t: _Type, items: list[Any]) -> list[tuple[str, Any]]:
    return [(_item_element(t, item, i), item) for i, item in enumerate(items)]


def _leaf(value: Any, t: _Type) -> bool:
    """Whether a value is owned as one field (scalars, atomic structs/maps/lists, and any
    value whose shape does not fit its type)."""
    if isinstance(value, dict):
        return not t.granular_map
    if isinstance(value, list):
        return not t.granular_list
    return True


# ------------------------------------------------------------------------- value algebra


def field_set(value: Any, t: _Type, prefix: Path = ()) -> set[Path]:
    """The fields a configuration sets (structured-merge-diff's ToFieldSet): every leaf,
    every list item, every key of a map, and declared fields only when null or empty."""
    out: set[Path] = set()
    _field_set(value, t, prefix, out)
    return out


def _field_set(value: Any, t: _Type, prefix: Path, out: set[Path]) -> None:
    if _leaf(value, t):
        if prefix:
            out.add(prefix)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            p = prefix + (element(k),)
            _field_set(v, _child(t, k), p, out)
            if v is None or v == {} or t.kind == "map":
                out.add(p)
        return
    et = _item_type(t)
    for pe, item in _index(t, value):
        p = prefix + (pe,)
        _field_set(item, et, p, out)
        out.add(p)


@dataclass
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    @property
    def changed(self) -> set[Path]:
        return self.added | self.modified

    def is_same(self) -> bool:
        return not (self.added or self.modified or self.removed)

    def restrict(self, keep: Callable[[Path], bool]) -> Comparison:
        return Comparison({p for p in self.added if keep(p)}, {p for p in self.modified if keep(p)},
                          {p for p in self.removed if keep(p)})


def compare(lhs: Any, rhs: Any, t: _Type) -> Comparison:
    """Which fields were added, modified and removed going from lhs to rhs (either may be
    MISSING). A map, struct or list that appears or disappears counts itself as well."""
    c = Comparison()
    _compare(lhs, rhs, t, (), c)
    return c


def _compare(lhs: Any, rhs: Any, t: _Type, path: Path, c: Comparison, member: bool = True) -> None:
    if lhs is not MISSING and rhs is not MISSING and lhs == rhs:
        return
    ls = lhs if lhs is not MISSING else rhs
    rs = rhs if rhs is not MISSING else lhs
    both_maps = isinstance(ls, dict) and isinstance(rs, dict)
    both_lists = isinstance(ls, list) and isinstance(rs, list)
    if (both_maps and t.granular_map) or (both_lists and t.granular_list):
        if both_maps:
            ld = lhs if isinstance(lhs, dict) else {}
            rd = rhs if isinstance(rhs, dict) else {}
            for k in ld.keys() | rd.keys():
                ct = _child(t, k)
                _compare(ld.get(k, MISSING), rd.get(k, MISSING), ct, path + (element(k),), c,
                         lhs is MISSING or not _in_zero_value(t, k, ct))
        else:
            li = dict(_index(t, lhs)) if isinstance(lhs, list) else {}
            ri = dict(_index(t, rhs)) if isinstance(rhs, list) else {}
            et = _item_type(t)
            for pe in li.keys() | ri.keys():
                _compare(li.get(pe, MISSING), ri.get(pe, MISSING), et, path + (pe,), c)
        if path and member:
            if lhs is MISSING:
                c.added.add(path)
            elif rhs is MISSING:
                c.removed.add(path)
        return
    if not path:
        return
    if lhs is MISSING:
        c.added.add(path)
    elif rhs is MISSING:
        c.removed.add(path)
    else:
        c.modified.add(path)


def merge(live: Any, config: Any, t: _Type) -> Any:
    """The configuration merged into the live value (a new value; neither input is changed).
    A null in the configuration removes the field."""
    if live is MISSING and isinstance(config, dict) and t.granular_map:
        live = {}
    if live is MISSING or _leaf(config, t) or type(live) is not type(config):
        return copy.deepcopy(config)
    if isinstance(config, dict):
        out = copy.deepcopy(live)
        for k, v in config.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(live.get(k, MISSING), v, _child(t, k))
        return out
    return _merge_list(live, config, t)


def _merge_list(live: list[Any], config: list[Any], t: _Type) -> list[Any]:
    """Items merged by key: configuration items in the configuration's order, live-only
    items kept where they were relative to the shared ones (structured-merge-diff's order)."""
    et = _item_type(t)
    lhs, rhs = _index(t, live), _index(t, config)
    lkeys = {pe for pe, _ in lhs}
    rmap = dict(rhs)
    lmap = dict(lhs)
    shared = [pe for pe, _ in rhs if pe in lkeys]
    out: list[Any] = []
    done: set[str] = set()
    i = j = s = 0
    while i < len(lhs) or j < len(rhs):
        if i < len(lhs) and j < len(rhs):
            lpe, rpe = lhs[i][0], rhs[j][0]
            if lpe == rpe:
                out.append(merge(lhs[i][1], rhs[j][1], et))
                done.add(lpe)
                i, j = i + 1, j + 1
                if s < len(shared) and shared[s] == lpe:
                    s += 1
                continue
            if lpe in rmap and s < len(shared) and shared[s] != lpe:
                i += 1
                continue
        if i < len(lhs):
            lpe = lhs[i][0]
            if lpe not in rmap:
                out.append(copy.deepcopy(lhs[i][1]))
                i += 1
                continue
            if lpe in done:
                i += 1
                continue
        if j < len(rhs):
            rpe, ritem = rhs[j]
            if rpe not in done:
                out.append(merge(lmap.get(rpe, MISSING), ritem, et))
                done.add(rpe)
            j += 1
            if s < len(shared) and shared[s] == rpe:
                s += 1
        elif i < len(lhs):
            i += 1
    return out


def remove_path(value: Any, path: Path, t: _Type) -> None:
    """Remove the field or item at path from value, in place (absent paths are ignored)."""
    node, nt = value, t
    for depth, pe in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, dict) and pe.startswith("f:"):
            name = pe[2:]
            if name not in node:
                return
            if last:
                del node[name]
                return
            node, nt = node[name], _child(nt, name)
        elif isinstance(node, list):
            idx = next((i for i, (e, _) in enumerate(_index(nt, node)) if e == pe), None)
            if idx is None:
                return
            if last:
                del node[idx]
                return
            node, nt = node[idx], _item_type(nt)
        else:
            return


def _zero(obj: Any, t: _Type) -> Any:
    """What a create starts from: Kubernetes compares with the kind's zero value, in which
    nested structs exist already (so creating `spec` does not own `spec` itself, while a new
    map such as `labels` is owned)."""
    if t.kind != "struct" or not isinstance(obj, dict):
        return {}
    # A zero metav1.Time is written as null: a template's `creationTimestamp: null` is no change.
    out: dict[str, Any] = {"creationTimestamp": None} if t.model == "V1ObjectMeta" else {}
    for k, v in obj.items():
        ct = _child(t, k)
        if ct.kind == "struct" and not ct.atomic and isinstance(v, dict) and _in_zero_value(t, k, ct):
            out[k] = _zero(v, ct)
    return out


def created_fields_v1(body: dict[str, Any], t: _Type, reset_status: bool) -> dict[str, Any]:
    """What `compare(_zero(body), body)` gives for a create, restricted to what a write to the
    main resource may own, built straight into FieldsV1 (the hot path of every create: no
    zero object, no comparison, no path tuples)."""
    if t.kind != "struct":  # no schema: one walk, then metadata's unowned fields taken out
        out = _created_children(body, t, True, _NOT_OWNED_AT_TOP[reset_status, False] - {"metadata"})
        m = out.get("f:metadata")
        if m is not None:
            for f in (".", *_META_NOT_OWNED):
                m.pop(f if f == "." else "f:" + f, None)
            if not m:
                del out["f:metadata"]
        return out
    # metadata's fields that no manager owns are left out as the walk meets them.
    meta = body.get("metadata")
    out = {}
    if isinstance(meta, dict):
        meta_fields = _created_children(meta, _child(t, "metadata"), True, _META_NOT_OWNED)
        if meta_fields:
            out["f:metadata"] = meta_fields
    spec = body.get("spec")
    spec_apart = isinstance(spec, dict) and bool(spec)
    if spec_apart:
        # The pods of one workload share their spec, so its field set is worked out once.
        # Cached sets are shared by the objects that carry them, which nothing edits in place.
        key = (t.model, orjson.dumps(spec))
        spec_fields = _SPEC_FIELDS.get(key)
        if spec_fields is None:
            spec_fields = _created_children({"spec": spec}, t, True).get("f:spec")
            if len(_SPEC_FIELDS) >= 512:
                _SPEC_FIELDS.pop(next(iter(_SPEC_FIELDS)))
            _SPEC_FIELDS[key] = spec_fields
        if spec_fields is not None:
            out["f:spec"] = spec_fields
    out.update(_created_children(body, t, True, _NOT_OWNED_AT_TOP[reset_status, spec_apart]))
    return {pe: out[pe] for pe in sorted(out)} if len(out) > 1 else out


def _top_skips() -> dict[tuple[bool, bool], frozenset[str]]:
    """(reset_status, spec walked apart) -> the top-level keys the generic walk skips:
    never owned (apiVersion, kind; status when a write to the main resource resets it), or
    walked apart (metadata, and spec when cached)."""
    out = {}
    for reset_status in (False, True):
        for spec_apart in (False, True):
            keys = {"apiVersion", "kind", "metadata"} | ({"status"} if reset_status else set())
            out[reset_status, spec_apart] = frozenset(keys | ({"spec"} if spec_apart else set()))
    return out


_NOT_OWNED_AT_TOP = _top_skips()
# metadata's fields no manager owns (Kubernetes strips them from every field set)
_META_NOT_OWNED = frozenset(("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                             "generation", "managedFields", "resourceVersion"))


def _created_children(value: dict[str, Any], t: _Type, zero: bool,
                      skip: frozenset[str] | tuple[()] = ()) -> dict[str, Any]:
    """The FieldsV1 children of a map or struct; `zero`: the struct exists in its parent's
    zero value (so its zero-valued struct fields exist too and are not owned themselves)."""
    out: dict[str, Any] = {}
    if t.kind != "struct":  # a map (or no schema): one type for every key, nothing in a zero value
        ct = _child(t, "")
        for k, v in value.items():
            if k in skip:
                continue
            if isinstance(v, (dict, list)):
                node = _created_node(v, ct, False, True)
                if node is not None:
                    out["f:" + k] = node
            else:
                out["f:" + k] = {}
    else:
        table = _FIELDS.get(t.model)
        if table is None:
            table = _FIELDS[t.model] = {}
        for k, v in value.items():
            if k in skip:
                continue
            info = table.get(k)
            if info is None:
                ct = _child(t, k)
                in_zero = _in_zero_value(t, k, ct)
                info = table[k] = (ct, in_zero, in_zero and ct.kind == "struct" and not ct.atomic)
            ct, in_zero, zero_struct = info
            if isinstance(v, (dict, list)):
                node = _created_node(v, ct, zero and zero_struct and isinstance(v, dict), not zero or not in_zero)
                if node is not None:
                    out["f:" + k] = node
            elif v is None and zero and k == "creationTimestamp" and t.model == "V1ObjectMeta":
                continue  # null is the zero metav1.Time: no change
            else:
                out["f:" + k] = {}
    return {pe: out[pe] for pe in sorted(out)} if len(out) > 1 else out


#: (model, the spec as JSON) -> its FieldsV1 on create (oldest dropped first)
_SPEC_FIELDS: dict[tuple[str | None, bytes], Any] = {}

#: per struct model, field name -> (type, exists in the zero value, is a struct in the zero value)
_FIELDS: dict[str | None, dict[str, tuple[_Type, bool, bool]]] = {}


def _created_node(value: Any, t: _Type, zero: bool, member: bool) -> dict[str, Any] | None:
    if isinstance(value, dict) and t.granular_map:
        children = _created_children(value, t, zero)
        member = member and not zero
    elif isinstance(value, list) and t.granular_list:
        et = _item_type(t)
        items: dict[str, Any] = {}
        for pe, item in _index(t, value):
            items[pe] = _created_node(item, et, False, True)
        children = {pe: items[pe] for pe in sorted(items, key=element_order)} if len(items) > 1 else items
    else:
        return {}
    if not children:
        return {} if member else None
    return {".": {}, **children} if member else children


def _in_zero_value(t: _Type, key: str, ct: _Type) -> bool:
    """Whether a field of a struct exists in the struct's zero value (a Go struct field that
    is neither a pointer nor omitted when empty)."""
    if t.kind != "struct":
        return False
    if (t.model, key) in ALWAYS_PRESENT:
        return True
    return ct.kind == "struct" and (t.model, key) not in POINTER_STRUCTS


# ------------------------------------------------------------------------- managers


class _Entry:
    """One managedFields entry. Its field set is decoded from FieldsV1 only when a write
    touches it, and re-encoded only when it changed: most writes touch one manager."""

    def __init__(self, manager: str, operation: str, api_version: str, subresource: str, time: str | None,
                 fields: set[Path] | None = None, raw: dict[str, Any] | None = None):
        self.manager = manager
        self.operation = operation
        self.api_version = api_version
        self.subresource = subresource
        self.time = time
        self._fields = fields
        self.raw = raw if fields is None else None

    @property
    def fields(self) -> set[Path]:
        if self._fields is None:
            self._fields = decode_fields_v1(self.raw)
        return self._fields

    @fields.setter
    def fields(self, value: set[Path]) -> None:
        self._fields = value
        self.raw = None

    def empty(self) -> bool:
        return not self.raw if self._fields is None else not self._fields

    def touches(self, paths: set[Path]) -> bool:
        """Whether any of paths is in the set (without decoding it)."""
        if self._fields is not None or not paths:
            return bool(self.fields & paths)
        for p in paths:
            node: Any = self.raw
            for pe in p:
                node = node.get(pe) if isinstance(node, dict) else None
                if node is None:
                    break
            else:
                if node == {} or (isinstance(node, dict) and "." in node):
                    return True
        return False

    def fields_v1(self) -> dict[str, Any]:
        return self.raw if self._fields is None and self.raw is not None else encode_fields_v1(self.fields)

    @property
    def ident(self) -> tuple[str, str, str, str]:
        # Appliers are one manager whatever version they apply; updaters one per version.
        return (self.manager, self.operation, self.api_version if self.operation != "Apply" else "",
                self.subresource)


def decode_managed_fields(entries: Any, trusted: bool = False) -> dict[tuple[str, str, str, str], _Entry]:
    """Entries by manager identity; `trusted` entries (written by this module, so already
    canonical) keep their FieldsV1 undecoded until needed."""
    out: dict[tuple[str, str, str, str], _Entry] = {}
    if not isinstance(entries, list):
        return out
    for e in entries:
        if not isinstance(e, dict):
            continue
        fv = e.get("fieldsV1")
        entry = _Entry(str(e.get("manager") or ""), str(e.get("operation") or ""), str(e.get("apiVersion") or ""),
                       str(e.get("subresource") or ""), e.get("time"),
                       None if trusted and isinstance(fv, dict) else decode_fields_v1(fv),
                       fv if trusted and isinstance(fv, dict) else None)
        prev = out.get(entry.ident)
        if prev is not None:
            prev.fields = prev.fields | entry.fields
        else:
            out[entry.ident] = entry
    return out


def _seconds(t: str | None) -> float:
    if not t:
        return 0.0
    try:
        return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def encode_managed_fields(managers: dict[tuple[str, str, str, str], _Entry]) -> list[dict[str, Any]]:
    """Entries with a non-empty field set, sorted as Kubernetes sorts them: by operation
    (Apply first), time, manager, apiVersion, subresource."""
    live = [e for e in managers.values() if not e.empty()]
    if len(live) > 1:
        live.sort(key=lambda e: (e.operation, int(_seconds(e.time)), e.manager, e.api_version, e.subresource))
    out = []
    for e in live:
        d: dict[str, Any] = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version}
        if e.time:
            d["time"] = e.time
        d["fieldsType"] = "FieldsV1"
        d["fieldsV1"] = e.fields_v1()
        if e.subresource:
            d["subresource"] = e.subresource
        out.append(d)
    return out


def _cap_update_managers(managers: dict[tuple[str, str, str, str], _Entry]) -> None:
    """At most MAX_UPDATE_MANAGERS Update entries: the oldest are merged, per apiVersion,
    into an `ancient-changes` entry."""
    updaters = sorted((e for e in managers.values() if e.operation != "Apply"),
                      key=lambda e: (_seconds(e.time), e.manager))
    excess = len(updaters) - MAX_UPDATE_MANAGERS
    for e in updaters:
        if excess <= 0:
            break
        bucket_id = (ANCIENT_CHANGES, "Update", e.api_version, "")
        if e.ident == bucket_id:
            continue
        bucket = managers.get(bucket_id)
        del managers[e.ident]
        if bucket is None:
            managers[bucket_id] = _Entry(ANCIENT_CHANGES, "Update", e.api_version, "", e.time, set(e.fields))
        else:
            bucket.fields = bucket.fields | e.fields
            bucket.time = e.time
            excess -= 1


def _print_manager(ident: tuple[str, str, str, str]) -> str:
    manager, operation, api_version, subresource = ident
    out = json.dumps(manager, ensure_ascii=False)
    if subresource:
        out += f" with subresource {json.dumps(subresource)}"
    if operation == "Update":
        out += f" using {api_version}"
    return out


def conflict_error(conflicts: dict[tuple[str, str, str, str], set[Path]]) -> StatusError:
    """409 Conflict with Kubernetes' message and one FieldManagerConflict cause per field."""
    pairs = [(ident, p) for ident in sorted(conflicts, key=_print_manager) for p in sorted_paths(conflicts[ident])]
    causes = [Cause(path_string(p), f"conflict with {_print_manager(ident)}", "FieldManagerConflict")
              for ident, p in pairs]
    if len(pairs) == 1:
        ident, p = pairs[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(ident)}: {path_string(p)}"
    else:
        lines: list[str] = []
        for ident in sorted(conflicts, key=_print_manager):
            lines.append(f"conflicts with {_print_manager(ident)}:")
            lines.extend(f"- {path_string(p)}" for p in sorted_paths(conflicts[ident]))
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    details = {"causes": [c.to_dict() for c in causes]}
    return StatusError(409, "Conflict", message, details)


# ------------------------------------------------------------------------- the manager


def _default_model_for_type(api_version: str, kind: str) -> str | None:
    group, _, version = api_version.rpartition("/")
    if not version or not kind:
        return None
    return schema.model_for(group, version, kind)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The object as field management sees it: no managedFields."""
    if obj is None:
        return {}
    out = dict(obj)
    m = out.get("metadata")
    if isinstance(m, dict) and "managedFields" in m:
        m = dict(m)
        del m["managedFields"]
        out["metadata"] = m
    return out


class FieldManager:
    """Computes `metadata.managedFields` for writes and performs server-side apply.

    `model_for_type(apiVersion, kind)` names the schema model of a kind (None: no schema).
    `reset_status` (per call): whether the kind has a status subresource, so that writes to
    the main resource never own `status` and writes to /status own only `status`; by
    default, whether the kind's model has a `status` field."""

    def __init__(self, model_for_type: Callable[[str, str], str | None] = _default_model_for_type):
        self.model_for_type = model_for_type

    # -- helpers

    def _root(self, *objs: dict[str, Any] | None) -> _Type:
        for o in objs:
            if isinstance(o, dict) and o.get("kind"):
                model = self.model_for_type(str(o.get("apiVersion") or ""), str(o["kind"]))
                return _resolve(model) if model else DEDUCED
        return DEDUCED

    @staticmethod
    def _scope(t: _Type, subresource: str, reset_status: bool | None) -> Callable[[Path], bool]:
        if reset_status is None:
            reset_status = t.kind == "struct" and schema.field_type(t.model, "status") is not None
        if subresource == "status":
            return lambda p: p[:1] == ("f:status",) and p not in IGNORED
        if reset_status:
            return lambda p: p[:1] != ("f:status",) and p not in IGNORED
        return lambda p: p not in IGNORED

    @staticmethod
    def _view(obj: dict[str, Any], subresource: str) -> dict[str, Any]:
        """The part of the object a write can own, to keep comparisons cheap."""
        if subresource == "status":
            return {"status": obj["status"]} if "status" in obj else {}
        return obj

    # -- Update

    def update(self, live: dict[str, Any] | None, new: dict[str, Any], manager: str, operation: str = "Update",
               subresource: str = "", api_version: str = "", now: str = "", *,
               reset_status: bool | None = None) -> dict[str, Any]:
        """Set `new`'s managedFields (in place; `new` is returned): the fields that changed
        from `live` (None on create) become owned by (manager, operation, apiVersion,
        subresource) and are taken from every other manager. Managed fields a client sent
        in `new` replace the live ones (that is how clients edit or reset them); an object
        whose managedFields were reset is not tracked again until its next apply."""
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            return new
        try:
            self._update(live, new, meta, manager, operation, subresource, api_version or str(new.get("apiVersion")
                                                                                             or ""),
                         now or _now(), reset_status)
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
            # Bookkeeping must never fail a write: Kubernetes drops managedFields instead.
            meta.pop("managedFields", None)
        return new

    def _update(self, live: dict[str, Any] | None, new: dict[str, Any], meta: dict[str, Any], manager: str,
                operation: str, subresource: str, api_version: str, now: str, reset_status: bool | None) -> None:
        provided = meta.get("managedFields")
        live_entries = ((live or {}).get("metadata") or {}).get("managedFields")
        if isinstance(provided, list) and provided and not subresource:
            managers = decode_managed_fields(provided)
        else:
            managers = decode_managed_fields(live_entries, trusted=True)
        if live is not None and not managers:
            meta.pop("managedFields", None)
            return
        t = self._root(new, live)
        body = _body(new)
        if live is None and not subresource and not managers:
            if reset_status is None:
                reset_status = t.kind == "struct" and schema.field_type(t.model, "status") is not None
            tree = created_fields_v1(body, t, reset_status) if manager else {}
            if tree:
                meta["managedFields"] = encode_managed_fields(
                    {(manager, operation, api_version, subresource): _Entry(manager, operation, api_version,
                                                                           subresource, now, None, tree)})
            else:
                meta.pop("managedFields", None)
            return
        keep = self._scope(t, subresource, reset_status)
        lhs = self._view(_body(live), subresource) if live is not None else _zero(body, t)
        cmp = compare(lhs, self._view(body, subresource), t).restrict(keep)
        if not cmp.is_same() and manager:
            changed = cmp.changed
            me = (manager, operation, api_version if operation != "Apply" else "", subresource)
            touched = changed | cmp.removed
            for ident, e in managers.items():
                if ident != me and e.touches(touched):
                    e.fields = e.fields - touched
            own = managers.get(me)
            if own is None:
                own = managers[me] = _Entry(manager, operation, api_version, subresource, now, set())
            own.fields = (own.fields - cmp.removed) | changed
            own.api_version = api_version
            own.time = now
            _cap_update_managers(managers)
        encoded = encode_managed_fields(managers)
        if encoded:
            meta["managedFields"] = encoded
        else:
            meta.pop("managedFields", None)

    # -- Apply

    def apply(self, live: dict[str, Any] | None, applied: dict[str, Any], manager: str, *, force: bool,
              subresource: str = "", api_version: str = "", now: str = "",
              reset_status: bool | None = None) -> dict[str, Any]:
        """Server-side apply of `applied` (a configuration) over `live` (None: create).
        Returns the merged object with managedFields; raises BadRequest for a malformed
        configuration and a 409 Conflict listing the fields other managers own, unless
        `force` (then ownership moves to this manager)."""
        if not isinstance(applied, dict):
            raise BadRequest("apply patch must be an object")
        av = str(applied.get("apiVersion") or "")
        if api_version and av != api_version:
            raise BadRequest(f"Incorrect version specified in apply patch. Specified patch version: {av}, "
                             f"expected: {api_version}")
        if not applied.get("kind"):
            raise BadRequest("Object 'Kind' is missing in apply patch")
        ameta = applied.get("metadata")
        if isinstance(ameta, dict) and ameta.get("managedFields") is not None:
            raise BadRequest("metadata.managedFields must be nil")
        api_version = api_version or av
        now = now or _now()
        t = self._root(applied, live)
        keep = self._scope(t, subresource, reset_status)
        live_body = _body(live)

        managers = decode_managed_fields(((live or {}).get("metadata") or {}).get("managedFields"), trusted=True)
        if live is not None and not managers:
            # An object nobody tracked yet: its present fields belong to before-first-apply.
            first = compare(_zero(live_body, t), self._view(live_body, subresource), t).restrict(keep).changed
            if first:
                ident = (BEFORE_FIRST_APPLY, "Update", api_version, subresource)
                managers[ident] = _Entry(BEFORE_FIRST_APPLY, "Update", api_version, subresource, now, first)

        merged = merge(live_body if live is not None else {}, applied, t)
        me = (manager, "Apply", "", subresource)
        previous = managers.get(me)
        applied_set = {p for p in field_set(self._view(applied, subresource), t) if keep(p)}
        managers[me] = _Entry(manager, "Apply", api_version, subresource, previous.time if previous else now,
                              applied_set)
        if previous is not None:
            self._prune(merged, t, managers, me, previous.fields, keep)

        cmp = compare(self._view(live_body, subresource) if live is not None else MISSING,
                      self._view(merged, subresource), t).restrict(keep)
        conflicts: dict[tuple[str, str, str, str], set[Path]] = {}
        for ident, e in managers.items():
            if ident != me:
                clash = e.fields & cmp.changed
                if clash:
                    conflicts[ident] = clash
        if conflicts and not force:
            allowed = self._allowed_by_last_applied(live_body, t) if manager == KUBECTL_SSA_MANAGER else set()
            remaining = {i: c - allowed for i, c in conflicts.items() if c - allowed}
            if remaining:
                raise conflict_error(remaining)
        for ident, clash in conflicts.items():
            managers[ident].fields = managers[ident].fields - clash
        for ident, e in managers.items():
            if ident != me and e.touches(cmp.removed):
                e.fields = e.fields - cmp.removed

        if manager == KUBECTL_SSA_MANAGER and LAST_APPLIED in ((merged.get("metadata") or {}).get("annotations")
                                                               or {}):
            merged["metadata"]["annotations"][LAST_APPLIED] = _last_applied(applied)

        entry = managers[me]
        if previous is None or not cmp.is_same() or previous.fields != entry.fields:
            entry.time = now
        merged.setdefault("metadata", {})
        encoded = encode_managed_fields(managers)
        if encoded:
            merged["metadata"]["managedFields"] = encoded
        else:
            merged["metadata"].pop("managedFields", None)
        return merged

    def _prune(self, merged: dict[str, Any], t: _Type, managers: dict[tuple[str, str, str, str], _Entry],
               me: tuple[str, str, str, str], last: set[Path], keep: Callable[[Path], bool]) -> None:
        """Remove what this manager applied before and applies no more, unless another
        manager (or its new configuration) still owns it or something below it."""
        owned: set[Path] = set()
        for e in managers.values():
            _with_named_ancestors(e.fields, owned)
        candidates: set[Path] = set()
        _with_named_ancestors(last, candidates)
        doomed = sorted((p for p in candidates - owned
                         if keep(p) and p != ("f:metadata",) and p not in IGNORED), key=len)
        gone: list[Path] = []
        for p in doomed:
            if any(p[:len(g)] == g for g in gone):
                continue
            remove_path(merged, p, t)
            gone.append(p)

    def _allowed_by_last_applied(self, live_body: dict[str, Any], t: _Type) -> set[Path]:
        """Fields `kubectl apply --server-side` may take over from client-side apply without
        a conflict: those in the last-applied annotation whose live value is still the one
        recorded there."""
        raw = ((live_body.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        if not raw:
            return set()
        try:
            last = json.loads(raw)
        except ValueError:
            return set()
        if not isinstance(last, dict):
            return set()
        in_both = field_set(last, t) & field_set(live_body, t)
        return in_both - compare(last, live_body, t).modified


def _with_named_ancestors(fields: set[Path], out: set[Path]) -> None:
    """fields, plus the fields (not list items) that contain them: someone who owns
    `.spec.template.spec.containers[name="web"].image` keeps `.spec.template` alive but not
    the container, which is removed whole when its owner stops applying it."""
    for p in fields:
        out.add(p)
        for a in ancestors(p):
            if a[-1].startswith("f:"):
                out.add(a)


def _last_applied(applied: dict[str, Any]) -> str:
    """The annotation's value for an applied configuration: the configuration itself,
    without the annotation, as Go's JSON encoder writes it (sorted keys, HTML characters
    escaped, a final newline)."""
    obj = copy.deepcopy(applied)
    meta = obj.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        meta["annotations"].pop(LAST_APPLIED, None)
        if not meta["annotations"]:
            del meta["annotations"]
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def paths(fields_v1: Any) -> list[str]:
    """Human-readable paths of a FieldsV1 tree (for tests and messages)."""
    return [path_string(p) for p in sorted_paths(decode_fields_v1(fields_v1))]

