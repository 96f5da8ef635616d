"""JSON merge patch (RFC 7386) as Kubernetes applies it (evanphx/json-patch v4's MergePatch),
and the diff that produces one (CreateMergePatch).

Used for `application/merge-patch+json` requests (kubectl label, annotate, scale, and every
patch of a custom resource) and by clients that compute patches. Never mutates its inputs."""

from __future__ import annotations

from typing import Any

from apimachinery.patch import bad_request, deep_copy, json_equal, json_kind

__all__ = ["apply", "create"]

BAD_PATCH = "Invalid JSON Patch"


def _prune(value: Any) -> Any:
    """The value without null members of its objects (arrays keep their null elements)."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) if v is not None else None for v in value]
    return value


def _merge(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for k, pv in patch.items():
        if pv is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if cur is None:
            out[k] = _prune(pv)
        elif isinstance(cur, dict):
            out[k] = _merge(cur, pv) if isinstance(pv, dict) else deep_copy(pv)
        else:
            out[k] = _prune(pv)
    return out


def apply(doc: Any, patch: Any) -> Any:
    """`doc` with the merge patch applied. A `null` or scalar patch is a 400 `Invalid JSON
    Patch`, as in Kubernetes; an array patch replaces the document."""
    if isinstance(patch, dict):
        if isinstance(doc, dict):
            return deep_copy(_merge(doc, patch))
        return _prune(patch)
    if isinstance(patch, list):
        return _prune(patch)
    raise bad_request(BAD_PATCH)


def _diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    into: dict[str, Any] = {}
    for k, bv in b.items():
        if k not in a:
            into[k] = deep_copy(bv)
            continue
        av = a[k]
        if json_kind(av) != json_kind(bv):
            into[k] = deep_copy(bv)
        elif isinstance(av, dict):
            sub = _diff(av, bv)
            if sub:
                into[k] = sub
        elif not json_equal(av, bv):
            into[k] = deep_copy(bv)
    for k in a:
        if k not in b:
            into[k] = None
    return into


def create(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that turns `original` into `modified` (`{}` when they are equal):
    changed and added members, `null` for removed ones, arrays replaced whole."""
    return _diff(original or {}, modified or {})
