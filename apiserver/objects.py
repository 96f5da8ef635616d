"""Small helpers over plain JSON objects: storage keys, timestamps, names, body decoding and
strict field checking.

Objects travel through the API server as plain dicts (JSON as sent); typed models are for the
code that acts on objects, never for the request path."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import random
import re
import uuid
from typing import Any

import orjson
import yaml

from apimachinery.errors import BadRequest, UnsupportedMediaType
from apimachinery.resources import ResourceInfo, storage_kind_key

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


def rfc3339(t: dt.datetime | None = None) -> str:
    return (t or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def new_uid() -> str:
    """A random (version 4) UUID. From Python's PRNG rather than os.urandom: a uid must be
    unique, not secret, and the getrandom syscall per object showed in create profiles."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


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
