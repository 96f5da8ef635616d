"""Small helpers over plain JSON objects: storage keys, timestamps, names, body decoding,
strict field checking and the Go type check of built-in kinds' values.

Objects travel through the API server as plain dicts (JSON as sent); typed models are for the
code that acts on objects, never for the request path."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from apimachinery import schema
from apimachinery.errors import BadRequest, UnsupportedMediaType
from apimachinery.patch import go_type, go_v, json_kind
from apimachinery.resources import ResourceInfo, storage_kind_key
from apiserver.registry.validation import QUANTITY_REGEX_ERROR, go_quote, parse_quantity

# Kubernetes' generateName alphabet: no vowels (no words), no 0/1/3 (look like letters).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def key_for(res: ResourceInfo, namespace: str | None, name: str) -> str:
    base = f"/registry/{storage_kind_key(res)}/"
    return f"{base}{namespace}/{name}" if res.namespaced else f"{base}{name}"


def prefix_for(res: ResourceInfo, namespace: str | None) -> str:
    base = f"/registry/{storage_kind_key(res)}/"
    return f"{base}{namespace}/" if (res.namespaced and namespace) else base


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_second: list[Any] = [0, ""]  # the current second and its text: writes stamp many objects a second


def rfc3339(t: dt.datetime | None = None) -> str:
    if t is not None:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    second = int(time.time())
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))]
    return str(_second[1])


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def new_uid() -> str:
    """A random (version 4) UUID. From Python's PRNG rather than os.urandom: a uid must be
    unique, not secret, and the getrandom syscall per object showed in create profiles."""
    h = f"{random.getrandbits(128) & _UUID_CLEAR | _UUID_V4:032x}"  # the version 4 and variant bits set
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)


def generate_name(prefix: str) -> str:
    # Kubernetes keeps the whole name within 63 characters: the prefix is cut to 58.
    return prefix[:58] + "".join(random.choices(_NAME_ALPHABET, k=5))


def deepcopy(obj: dict[str, Any]) -> dict[str, Any]:
    """A private copy of a stored (shared, read-only) object. orjson round-trips are faster
    than copy.deepcopy for JSON data."""
    return orjson.loads(orjson.dumps(obj))


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = obj["metadata"] = {}
    return m


def decode_body(body: bytes, content_type: str) -> Any:
    """JSON or YAML as the client sent it, with Kubernetes' messages for garbage."""
    if not body.strip():
        raise BadRequest("the body of the request was empty")
    if content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as e:
            raise BadRequest(f"error converting YAML to JSON: {e}") from None
    if content_type in ("", "application/json", "*/*", "application/json-patch+json",
                        "application/merge-patch+json", "application/strategic-merge-patch+json",
                        "application/apply-patch+yaml"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            if content_type == "application/apply-patch+yaml":
                try:
                    return yaml.safe_load(body)
                except yaml.YAMLError:
                    pass
            raise BadRequest(f"couldn't get version/kind; json parse error: {e}") from None
    raise UnsupportedMediaType(content_type)


def decode_object(body: bytes, content_type: str) -> dict[str, Any]:
    obj = decode_body(body, content_type)
    if not isinstance(obj, dict):
        raise BadRequest("Object 'Kind' is missing in '" + body[:100].decode(errors="replace") + "'")
    return obj


def encode_continue(revision: int, last_key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": last_key})).decode()


def decode_continue(token: str) -> tuple[int, str]:
    try:
        d = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(d["rv"]), str(d["start"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise BadRequest("continue key is not valid: incorrect encoded start resourceVersion "
                         "(version meta.k8s.io/v1)") from None


def strip_for_compare(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without the fields every write changes, to tell a no-op update.
    managedFields stay: a write that only changes ownership (a second applier co-owning a
    field, kubectl's managedFields upgrade from client-side apply) must be stored; the field
    manager leaves them untouched when nothing changed."""
    o = copy.copy(obj)
    m = dict(o.get("metadata") or {})
    m.pop("resourceVersion", None)
    o["metadata"] = m
    return o


def unknown_fields(obj: dict[str, Any], model: str | None) -> list[str]:
    """JSON paths of fields the kind's schema does not have (`spec.replcias`,
    `spec.template.spec.containers[0].imagee`), for fieldValidation Strict/Warn."""
    if model is None:
        return []
    try:
        from apimachinery import schema
    except ImportError:  # schema metadata not available: accept everything
        return []
    out: list[str] = []
    _walk_unknown(obj, model, "", out, schema, top=True)
    return out


_LEAF_TYPES = frozenset(("str", "int", "bool", "float", "object", "datetime", "date", "bytearray",
                         "list[str]", "list[int]"))


def _walk_unknown(value: Any, type_string: str, path: str, out: list[str], schema: Any, top: bool = False) -> None:
    if type_string.startswith("list["):
        if isinstance(value, list):
            inner = type_string[5:-1]
            for i, item in enumerate(value):
                _walk_unknown(item, inner, f"{path}[{i}]", out, schema)
        return
    if type_string in _LEAF_TYPES:
        return
    if type_string.startswith("dict("):
        if type_string in ("dict(str, str)", "dict(str, object)"):
            return
        if isinstance(value, dict):
            inner = type_string[type_string.index(",") + 1:-1].strip()
            for k, item in value.items():
                _walk_unknown(item, inner, f"{path}.{k}" if path else k, out, schema)
        return
    if not isinstance(value, dict):
        return
    fields = schema.fields(type_string)
    if not fields:
        return
    for k, v in value.items():
        p = f"{path}.{k}" if path else k
        if top and k in ("apiVersion", "kind"):
            continue
        t = fields.get(k)
        if t is None:
            out.append(p)
        elif k != "metadata" or not top:
            _walk_unknown(v, t, p, out, schema)
        else:
            _walk_unknown(v, t, p, out, schema)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def remove_path(obj: Any, path: str) -> None:
    """Delete the field at a path as unknown_fields writes them
    (`spec.template.spec.containers[0].foo`); a path that is not there is left alone."""
    tokens: list[str | int] = [int(i) if i else key for key, i in _PATH_TOKEN.findall(path)]
    for tok in tokens[:-1]:
        if isinstance(tok, int) and isinstance(obj, list) and tok < len(obj):
            obj = obj[tok]
        elif isinstance(tok, str) and isinstance(obj, dict) and tok in obj:
            obj = obj[tok]
        else:
            return
    if tokens and isinstance(obj, dict):
        obj.pop(tokens[-1], None)


# ------------------------------------------------------------------ scalar types
#
# Kubernetes decodes every write of a built-in kind into Go structs, and the decoder refuses a
# value of the wrong JSON type (`replicas: "x"`, `containerPort: "80"`, `hostNetwork: "yes"`, an
# object where a list belongs). Three decoders do it, each with its own words:
#   DECODE    Go's JSON decoder (create, update, JSON and merge patches): the first error in
#             document order, or the first error of a type with its own UnmarshalJSON
#             (Quantity, IntOrString, Time), which stops the decoder;
#   CONVERT   the unstructured converter a strategic merge patch goes through: the first error;
#   TYPED     structured-merge-diff, which types a server-side apply configuration: every
#             error, unknown fields included.
# `null` is fine everywhere, as in Kubernetes. The tables come precomputed per model from
# apimachinery.schema.type_table; the walk is on every write, so it stays a plain recursion.

DECODE, CONVERT, TYPED = "decode", "convert", "typed"

_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_FATAL = frozenset(("Quantity", "IntOrString", "Time", "MicroTime", "Duration"))
_STRINGS = frozenset(("string", "[]byte", "Time", "MicroTime", "Duration"))
_ANY = frozenset(("RawExtension", "FieldsV1"))


@dataclass(frozen=True, slots=True)
class TypeMismatch:
    """A value the kind's Go type cannot take: `fields` are the JSON field names down to it
    (what Go's decoder prints), `struct` the Go struct holding the innermost field, `want`
    the expected type (None: a field the schema does not declare, TYPED only), `typed_path`
    the structured-merge-diff path (`.spec.containers[name="web"].ports`, TYPED only)."""

    fields: tuple[str, ...]
    struct: str
    want: Any
    value: Any
    typed_path: str = ""

    @property
    def fatal(self) -> bool:
        return self.want is not None and self.want.kind in _FATAL


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _accepts(kind: str, v: Any, dialect: str) -> bool:
    """Whether a scalar of Go kind `kind` takes the JSON value `v` (never None here)."""
    if kind == "string" or kind in _STRINGS:
        # A YAML body's unquoted timestamps arrive as dates: YAML-to-JSON makes them strings.
        return isinstance(v, str | dt.date) or (kind == "[]byte" and dialect == CONVERT and isinstance(v, list))
    if kind == "bool":
        return isinstance(v, bool)
    if kind in _INT_RANGE:
        if dialect == TYPED:
            return _is_number(v)
        if dialect == CONVERT:
            return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
        lo, hi = _INT_RANGE[kind]
        return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
    if kind == "float64":
        return _is_number(v)
    if kind == "Quantity":
        if dialect == TYPED:
            return not isinstance(v, dict | list)
        return _is_number(v) or (isinstance(v, str) and _quantity_ok(v))
    if kind == "IntOrString":
        if dialect == TYPED:
            return not isinstance(v, dict | list)
        if isinstance(v, str):
            return True
        if isinstance(v, float) and dialect == CONVERT and v.is_integer():
            v = int(v)
        return isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31
    return True  # RawExtension, FieldsV1: any JSON


@functools.lru_cache(maxsize=4096)
def _quantity_ok(text: str) -> bool:
    """Whether a string parses as a Quantity (cached: the same few values come back)."""
    try:
        parse_quantity(text)
    except ValueError:
        return False
    return True


def type_mismatches(obj: dict[str, Any], model: str, dialect: str = DECODE) -> list[TypeMismatch]:
    """The values of a built-in object its Go types refuse, as `dialect`'s decoder finds them:
    DECODE and CONVERT return at most one (the one reported), TYPED all of them."""
    if _ok_struct(obj, model, dialect):
        return []  # the common case: a quick walk without paths
    out: list[TypeMismatch] = []
    try:
        _walk_struct(obj, model, (), schema.struct_name(model), "", out, dialect)
    except _Stop:
        pass
    if dialect == DECODE and out and not out[-1].fatal:
        return out[:1]
    return out[-1:] if dialect != TYPED else out


class _Stop(Exception):
    pass


def _record(out: list[TypeMismatch], m: TypeMismatch, dialect: str) -> None:
    if dialect == CONVERT or (dialect == DECODE and m.fatal):
        out.clear()
        out.append(m)
        raise _Stop
    if dialect == DECODE and out:
        return  # Go's decoder keeps the first error, but goes on looking for a fatal one
    out.append(m)


def typed_and_known(obj: dict[str, Any], model: str) -> bool:
    """Whether every value of a built-in object has its Go type and every field is one the
    schema declares: the common case, answered by one quick walk so that a write pays for
    neither the paths of the type check nor the unknown-field walk."""
    return _ok_struct(obj, model, DECODE, True)


def _ok_struct(value: dict[str, Any], model: str, dialect: str, known_only: bool = False) -> bool:
    table = schema.type_table(model)
    for key, v in value.items():
        if v is None:
            continue
        t = table.get(key)
        if t is None:
            if dialect == TYPED or known_only:
                return False
            continue
        kind = t.kind
        if kind == "string":
            if type(v) is not str:
                return False
        elif kind == "struct":
            if type(v) is not dict or not _ok_struct(v, t.model or "", dialect, known_only):
                return False
        elif kind == "bool":
            if type(v) is not bool:
                return False
        elif kind == "int32" and type(v) is int:
            if not -2147483648 <= v <= 2147483647:
                return False
        elif kind == "int64" and type(v) is int:
            if not -9223372036854775808 <= v <= 9223372036854775807:
                return False
        elif not _ok(v, t, dialect, known_only):
            return False
    return True


def _ok(v: Any, t: schema.GoType, dialect: str, known_only: bool = False) -> bool:
    kind = t.kind
    if kind == "string":
        return type(v) is str
    if kind == "struct":
        return type(v) is dict and _ok_struct(v, t.model or "", dialect, known_only)
    if kind == "list" or kind == "map":
        if type(v) is not (list if kind == "list" else dict):
            return False
        items: Iterable[Any] = v.values() if isinstance(v, dict) else v
        elem = t.elem
        assert elem is not None
        if elem.kind == "struct":
            model = elem.model or ""
            return all(item is None or (type(item) is dict and _ok_struct(item, model, dialect, known_only))
                       for item in items)
        if elem.kind == "string":
            return all(item is None or type(item) is str for item in items)
        return all(item is None or _ok(item, elem, dialect, known_only) for item in items)
    if kind in _ANY:
        return True
    return _accepts(kind, v, dialect)


def _walk_struct(value: dict[str, Any], model: str, fields: tuple[str, ...], struct: str, tpath: str,
                 out: list[TypeMismatch], dialect: str) -> None:
    table = schema.type_table(model)
    name = schema.struct_name(model)
    for key, v in value.items():
        t = table.get(key)
        if t is None:
            if dialect == TYPED:
                out.append(TypeMismatch((*fields, key), name, None, v, f"{tpath}.{key}"))
                return  # structured-merge-diff stops walking a map at its first undeclared field
            continue
        if v is not None:
            _walk(v, t, (*fields, key), name, f"{tpath}.{key}" if dialect == TYPED else "", out, dialect,
                  model, key)


def _walk(v: Any, t: schema.GoType, fields: tuple[str, ...], struct: str, tpath: str,
          out: list[TypeMismatch], dialect: str, owner: str | None = None, owner_field: str = "") -> None:
    kind = t.kind
    if kind == "struct":
        if isinstance(v, dict):
            _walk_struct(v, t.model or "", fields, struct, tpath, out, dialect)
            return
    elif kind == "list":
        if isinstance(v, list):
            elem = t.elem
            assert elem is not None
            for i, item in enumerate(v):
                if item is not None:
                    p = _typed_element(owner, owner_field, item, i) if dialect == TYPED else ""
                    _walk(item, elem, fields, struct, tpath + p, out, dialect)
            return
    elif kind == "map":
        if isinstance(v, dict):
            elem = t.elem
            assert elem is not None
            for k, item in v.items():
                if item is not None:
                    _walk(item, elem, fields, struct, f"{tpath}.{k}" if dialect == TYPED else "", out, dialect)
            return
    elif kind in _ANY or _accepts(kind, v, dialect):
        return
    _record(out, TypeMismatch(fields, struct, t, v, tpath), dialect)


# List-map keys of the lists that Kubernetes v1.32 keys by more than their merge key.
_LIST_MAP_KEYS = {("V1Container", "ports"): ("containerPort", "protocol"),
                  ("V1EphemeralContainer", "ports"): ("containerPort", "protocol"),
                  ("V1ServiceSpec", "ports"): ("port", "protocol")}


def _typed_element(owner: str | None, fld: str, item: Any, index: int) -> str:
    """structured-merge-diff's path element of a list item: `[name="web"]` for a list map,
    `[="x"]` for a set, `[0]` for an atomic list."""
    meta_ = schema.patch_meta(owner, fld)
    if meta_ is None or "merge" not in meta_[0].split(","):
        return f"[{index}]"
    key = meta_[1]
    if key is None:
        return f"[={go_json(item)}]"
    if not isinstance(item, dict):
        return f"[{index}]"
    keys = _LIST_MAP_KEYS.get((owner or "", fld), (key,))
    values = {k: item.get(k, "TCP" if k == "protocol" else None) for k in keys}
    return "[" + ",".join(f"{k}={go_json(values[k])}" for k in sorted(values)) + "]"


def go_json(v: Any) -> str:
    """Go's json.Marshal of a value: compact, sorted keys, <>& escaped."""
    text = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _go_sharp_v(v: Any) -> str:
    """Go's %#v of a decoded JSON value held in an interface{}."""
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, dict):
        return "map[string]interface {}{" + ", ".join(f"{go_quote(k)}:{_go_sharp_v(v[k])}" for k in sorted(v)) + "}"
    if isinstance(v, list):
        return "[]interface {}{" + ", ".join(_go_sharp_v(x) for x in v) + "}"
    return go_v(v)


def _json_kind(v: Any, numeric_target: bool) -> str:
    """How Go's JSON decoder names a value in `cannot unmarshal X`: a number that a numeric
    type cannot take comes with its literal (`number 1.5`)."""
    kind = json_kind(v)
    return f"{kind} {v!r}" if kind == "number" and numeric_target else kind


_GO_KINDS = ((bool, "bool"), (str, "string"), (int, "int64"), (float, "float64"), (list, "slice"), (dict, "map"))


def _go_kind(v: Any) -> str:
    return next(name for typ, name in _GO_KINDS if isinstance(v, typ))


def decode_message(m: TypeMismatch) -> str:
    """Go's JSON decoder: `json: cannot unmarshal string into Go struct field
    DeploymentSpec.spec.replicas of type int32`."""
    kind = m.want.kind
    if kind == "Quantity":
        return QUANTITY_REGEX_ERROR
    if kind == "IntOrString":
        go, numeric = "int32", True
    elif kind in ("Time", "MicroTime", "Duration"):
        go, numeric = "string", False
    else:
        go, numeric = m.want.go, kind in _INT_RANGE or kind == "float64"
    return (f"json: cannot unmarshal {_json_kind(m.value, numeric)} into Go struct field "
            f"{m.struct}.{'.'.join(m.fields)} of type {go}")


def convert_message(m: TypeMismatch) -> str:
    """The unstructured converter a strategic merge patch decodes with (`unrecognized type:
    int32`, `cannot restore struct from: string`, ...)."""
    kind, v = m.want.kind, m.value
    src = _go_kind(v)
    if kind == "Quantity":
        return QUANTITY_REGEX_ERROR
    if kind == "IntOrString":
        return f"json: cannot unmarshal {_json_kind(v, True)} into Go value of type int32"
    if kind in ("Time", "MicroTime", "Duration"):
        return f"json: cannot unmarshal {_json_kind(v, False)} into Go value of type string"
    if kind == "struct":
        return f"cannot restore struct from: {src}"
    if kind == "map":
        return f"cannot restore map from {src}"
    if kind in ("list", "[]byte"):
        return f"cannot restore slice from {src}"
    if isinstance(v, float) and kind in _INT_RANGE:
        return f"cannot convert float64 to {kind}"
    if isinstance(v, int) and not isinstance(v, bool) and kind == "string":
        return "cannot convert int64 to string"
    return f"unrecognized type: {kind}"


def typed_message(mismatches: list[TypeMismatch]) -> str:
    """structured-merge-diff's validation errors (`.spec.replicas: expected numeric (int or
    float), got string`), one per line after `errors:` when there are several."""
    lines = []
    for m in mismatches:
        v = m.value
        if m.want is None:
            text = "field not declared in schema"
        elif m.want.kind in _INT_RANGE or m.want.kind == "float64":
            text = f"expected numeric (int or float), got {go_type(v)}"
        elif m.want.kind in _STRINGS:
            text = f"expected string, got &value.valueUnstructured{{Value:{_go_sharp_v(v)}}}"
        else:
            what = {"bool": "boolean", "struct": "map", "map": "map", "list": "list"}.get(m.want.kind, "any scalar")
            text = f"expected {what}, got &{{{go_v(v)}}}"
        lines.append(f"{m.typed_path}: {text}")
    if len(lines) == 1:
        return lines[0]
    return "errors:\n" + "\n".join("  " + line for line in lines)
