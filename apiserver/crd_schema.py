"""Structural schemas of CustomResourceDefinitions: validation, defaulting and pruning of
custom resources against a version's `openAPIV3Schema`, with Kubernetes' messages.

Kubernetes (apiextensions-apiserver) decodes a custom resource, prunes the fields the schema
does not name (unless `x-kubernetes-preserve-unknown-fields`), applies `default`s, then
validates with kube-openapi, whose messages users see verbatim
(`spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"`).
This module does the same on plain JSON dicts.

Pure functions: no I/O, no state. It must never change what it is not asked to: `validate`
only reads; `default` and `prune` mutate the object they are given in place. CEL
`x-kubernetes-validations` rules are not evaluated (accepted and ignored).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from apimachinery.errors import Cause
from apiserver.objects import remove_path
from apiserver.registry.validation import (
    Raw,
    duplicate,
    go_quote,
    go_value,
    invalid,
    not_supported,
    required,
    too_many,
)

JSON = dict[str, Any]

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_METADATA_KEYS = ("apiVersion", "kind", "metadata")


def json_type(value: Any) -> str:
    """The JSON type kube-openapi names in its messages (`null` for None)."""
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_ok(schema_type: str, value: Any) -> bool:
    if schema_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if schema_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if schema_type == "string":
        return isinstance(value, str)
    if schema_type == "boolean":
        return isinstance(value, bool)
    if schema_type == "array":
        return isinstance(value, list)
    if schema_type == "object":
        return isinstance(value, dict)
    return True


def _format_ok(fmt: str, value: Any) -> bool:
    if fmt == "int32" and isinstance(value, int):
        return _INT32[0] <= value <= _INT32[1]
    if fmt == "int64" and isinstance(value, int):
        return _INT64[0] <= value <= _INT64[1]
    if fmt == "date-time" and isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return "T" in value or " " in value
    if fmt == "date" and isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
    return True


def _num(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


# ------------------------------------------------------------------------------ validation

def validate(schema: JSON, obj: Any, path: str = "") -> list[Cause]:
    """Causes for everything in `obj` that breaks `schema`, each at its JSON path. At the
    root, apiVersion, kind and metadata are left to the API server's own checks."""
    out: list[Cause] = []
    _validate(schema, obj, path, out, root=not path)
    return out


def _validate(schema: JSON, value: Any, path: str, out: list[Cause], root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    shown = path or "<root>"
    if value is None:
        if schema.get("nullable"):
            return
        if schema.get("type") and not root:
            out.append(invalid(path, "null", f"{shown} in body must be of type {schema['type']}: \"null\""))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))):
            out.append(invalid(path, json_type(value), f"{shown} in body must be of type integer,string: "
                               f"\"{json_type(value)}\""))
            return
    else:
        t = schema.get("type")
        if t and not _type_ok(t, value):
            out.append(invalid(path, json_type(value), f"{shown} in body must be of type {t}: \"{json_type(value)}\""))
            return
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        out.append(not_supported(path, value, [e if isinstance(e, str) else str(e) for e in enum]))
    fmt = schema.get("format")
    if isinstance(fmt, str) and not _format_ok(fmt, value):
        out.append(invalid(path, value, f"{shown} in body must be of type {fmt}: {_quoted(value)}"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(schema, _num(value), path, shown, out)
    elif isinstance(value, str):
        _validate_string(schema, value, path, shown, out)
    elif isinstance(value, list):
        _validate_array(schema, value, path, shown, out)
    elif isinstance(value, dict):
        _validate_object(schema, value, path, out, root)


def _quoted(value: Any) -> str:
    import json
    return json.dumps(value)


def _validate_number(schema: JSON, value: Any, path: str, shown: str, out: list[Cause]) -> None:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if lo is not None:
        if schema.get("exclusiveMinimum") and value <= lo:
            out.append(invalid(path, value, f"{shown} in body should be greater than {_num(lo)}"))
        elif value < lo:
            out.append(invalid(path, value, f"{shown} in body should be greater than or equal to {_num(lo)}"))
    if hi is not None:
        if schema.get("exclusiveMaximum") and value >= hi:
            out.append(invalid(path, value, f"{shown} in body should be less than {_num(hi)}"))
        elif value > hi:
            out.append(invalid(path, value, f"{shown} in body should be less than or equal to {_num(hi)}"))
    mult = schema.get("multipleOf")
    if mult and (value / mult) != int(value / mult):
        out.append(invalid(path, value, f"{shown} in body should be a multiple of {_num(mult)}"))


def _validate_string(schema: JSON, value: str, path: str, shown: str, out: list[Cause]) -> None:
    lo, hi = schema.get("minLength"), schema.get("maxLength")
    if lo is not None and len(value) < lo:
        out.append(invalid(path, value, f"{shown} in body should be at least {lo} chars long"))
    if hi is not None and len(value) > hi:
        out.append(Cause(path, f"Too long: may not be more than {hi} bytes", "FieldValueTooLong"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            ok = re.search(pattern, value) is not None
        except re.error:
            ok = True
        if not ok:
            out.append(invalid(path, value, f"{shown} in body should match '{pattern}'"))


def _validate_array(schema: JSON, value: list[Any], path: str, shown: str, out: list[Cause]) -> None:
    lo, hi = schema.get("minItems"), schema.get("maxItems")
    if lo is not None and len(value) < lo:
        out.append(invalid(path, len(value), f"{shown} in body should have at least {lo} items"))
    if hi is not None and len(value) > hi:
        out.append(too_many(path, len(value), hi))
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _validate(items, item, f"{path}[{i}]", out)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set" or schema.get("uniqueItems"):
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                out.append(duplicate(f"{path}[{i}]", item))
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: set[tuple[Any, ...]] = set()
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            k = tuple(repr(item.get(key)) for key in keys)
            if k in seen_keys:
                shown_keys = ", ".join(f"{go_quote(key)}:{go_value(item.get(key))}" for key in keys)
                out.append(duplicate(f"{path}[{i}]", Raw(f"map[string]interface {{}}{{{shown_keys}}}")))
            seen_keys.add(k)


def _validate_object(schema: JSON, value: JSON, path: str, out: list[Cause], root: bool) -> None:
    props = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value and not (root and name in _METADATA_KEYS):
            out.append(required(_join(path, name)))
    lo, hi = schema.get("minProperties"), schema.get("maxProperties")
    shown = path or "<root>"
    if lo is not None and len(value) < lo:
        out.append(invalid(path, len(value), f"{shown} in body should have at least {lo} properties"))
    if hi is not None and len(value) > hi:
        out.append(too_many(path, len(value), hi))
    extra = schema.get("additionalProperties")
    for key, v in value.items():
        if root and key in _METADATA_KEYS:
            continue
        if key in props:
            _validate(props[key], v, _join(path, key), out)
        elif isinstance(extra, dict):
            _validate(extra, v, _join(path, key), out)
    if schema.get("x-kubernetes-embedded-resource"):
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                out.append(required(_join(path, key), "must not be empty"))


# ------------------------------------------------------------------------------ defaulting

def default(schema: JSON, obj: Any) -> None:
    """Set every `default` of `schema` that `obj` lacks, recursively (a default is applied
    only where the enclosing object exists, as Kubernetes does)."""
    if not isinstance(schema, dict):
        return
    if isinstance(obj, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if not isinstance(sub, dict):
                continue
            if key not in obj and "default" in sub:
                import copy
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                default(sub, obj[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, v in obj.items():
                if key not in props:
                    default(extra, v)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            default(schema["items"], item)


# ------------------------------------------------------------------------------ pruning

def unknown_fields(schema: JSON, obj: Any, path: str = "", root: bool = True) -> list[str]:
    """Paths of fields the schema does not specify (`spec.foo`, `spec.items[0].bar`): what
    Kubernetes prunes, and reports as unknown under fieldValidation Strict/Warn. At the root
    apiVersion, kind and metadata are always known; inside an embedded resource too."""
    out: list[str] = []
    _unknown(schema, obj, path, out, root)
    return out


def _unknown(schema: Any, value: Any, path: str, out: list[str], root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        embedded = root or schema.get("x-kubernetes-embedded-resource")
        for key, v in value.items():
            if embedded and key in _METADATA_KEYS:
                continue
            sub = path + "." + key if path else key
            if key in props:
                _unknown(props[key], v, sub, out)
            elif isinstance(extra, dict):
                _unknown(extra, v, sub, out)
            elif not preserve:
                out.append(sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _unknown(schema["items"], item, f"{path}[{i}]", out)


def prune(schema: JSON, obj: Any) -> list[str]:
    """Drop the fields `unknown_fields` finds; returns their paths."""
    found = unknown_fields(schema, obj)
    for p in found:
        remove_path(obj, p)
    return found




# ------------------------------------------------------------------------------ the schema itself

def structural_errors(schema: Any, path: str) -> list[Cause]:
    """The basics of a structural schema (Kubernetes checks more): every node has a `type`
    unless it preserves unknown fields or is int-or-string; the root is an object."""
    out: list[Cause] = []
    if not isinstance(schema, dict):
        return [required(path)]
    if schema.get("type") not in (None, "object"):
        out.append(invalid(f"{path}.type", schema.get("type"), 'must be object at the root'))
    _structural(schema, path, out, root=True)
    return out


def _structural(node: Any, path: str, out: list[Cause], root: bool = False) -> None:
    if not isinstance(node, dict):
        return
    if not node.get("type") and not node.get("x-kubernetes-int-or-string") and not node.get(
            "x-kubernetes-preserve-unknown-fields") and not root:
        out.append(required(f"{path}.type", "must not be empty for specified object fields"))
    t = node.get("type")
    if t and t not in ("object", "array", "string", "integer", "number", "boolean"):
        out.append(not_supported(f"{path}.type", t, ["array", "boolean", "integer", "number", "object",
                                                      "string"]))
    for key, sub in (node.get("properties") or {}).items():
        _structural(sub, f"{path}.properties[{key}]", out)
    if isinstance(node.get("items"), dict):
        _structural(node["items"], f"{path}.items", out)
    elif t == "array":
        out.append(required(f"{path}.items", "must be specified"))
    if isinstance(node.get("additionalProperties"), dict):
        _structural(node["additionalProperties"], f"{path}.additionalProperties", out)
