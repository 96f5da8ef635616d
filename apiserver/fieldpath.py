"""Field paths and field sets as server-side apply knows them, and their FieldsV1 encoding.

A path is a tuple of encoded path elements, exactly as they appear as keys of FieldsV1:
`f:<field>` for a field of a struct or a key of a map, `k:<json object>` for an item of a
list of type map (the item's key fields, sorted, compact JSON), `v:<json value>` for an item
of a list of type set, `i:<index>` for an item of a list that has neither. A field set is a
plain Python `set` of such tuples; the empty tuple is the object itself.

FieldsV1 is a tree of those elements: a leaf `{}` is a member; an inner node holding `"."`
is a member that also has members below it (`{"f:labels": {".": {}, "f:app": {}}}`).

This module only converts and orders; it must never look at objects or schemas."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = [
    "Path",
    "ancestors",
    "canonical_element",
    "decode_fields_v1",
    "element",
    "encode_fields_v1",
    "key_element",
    "path_string",
    "sorted_paths",
    "value_element",
]

Path = tuple[str, ...]


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # what orjson refuses (integers beyond 64 bits): the same text, slower
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def element(field: str) -> str:
    return "f:" + field


def key_element(key: dict[str, Any]) -> str:
    """`k:{"containerPort":80,"protocol":"TCP"}`: key fields sorted by name."""
    return "k:" + _json(key)


def value_element(value: Any) -> str:
    return "v:" + _json(value)


def canonical_element(pe: str) -> str:
    """One spelling per element, whatever JSON spacing or key order a client sent back."""
    if pe[:2] in ("k:", "v:"):
        try:
            return pe[:2] + _json(json.loads(pe[2:]))
        except ValueError:
            return pe
    return pe


def decode_fields_v1(fields: Any, prefix: Path = ()) -> set[Path]:
    """FieldsV1 → set of paths (malformed parts are skipped, never raised on)."""
    out: set[Path] = set()
    if not isinstance(fields, dict):
        return out
    for k, v in fields.items():
        if k == ".":
            if prefix:
                out.add(prefix)
            continue
        if not isinstance(k, str):
            continue
        p = prefix + (canonical_element(k),)
        if isinstance(v, dict) and v:
            out |= decode_fields_v1(v, p)
        else:
            out.add(p)
    return out


def element_order(pe: str) -> tuple[int, str]:
    # structured-merge-diff orders fields, then keys, then values, then indexes.
    return ({"f": 0, "k": 1, "v": 2, "i": 3}.get(pe[:1], 4), pe)


def encode_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """Set of paths → FieldsV1 (children sorted as structured-merge-diff serializes them)."""
    tree: dict[str, Any] = {}
    members: set[Path] = set()
    for p in paths:
        if not p:
            continue
        members.add(p)
        node = tree
        for pe in p:
            node = node.setdefault(pe, {})

    def render(node: dict[str, Any], path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if node and path in members:
            out["."] = {}
        for pe in sorted(node, key=element_order):
            out[pe] = render(node[pe], path + (pe,))
        return out

    return render(tree, ())


def sorted_paths(paths: Iterable[Path]) -> list[Path]:
    """The order structured-merge-diff iterates a set in: at each level the members first
    (sorted), then the children's subtrees (sorted). So `.spec.replicas` comes before
    `.spec.template.spec.containers[name="web"].image`."""
    members = set(paths)
    tree: dict[str, Any] = {}
    for p in members:
        node = tree
        for pe in p:
            node = node.setdefault(pe, {})
    out: list[Path] = []

    def walk(node: dict[str, Any], path: Path) -> None:
        keys = sorted(node, key=element_order)
        for pe in keys:
            if path + (pe,) in members:
                out.append(path + (pe,))
        for pe in keys:
            if node[pe]:
                walk(node[pe], path + (pe,))

    walk(tree, ())
    return out


def _to_string(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _json(value)


def path_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="web"].image`, as Kubernetes prints a path in
    conflict messages."""
    out: list[str] = []
    for pe in path:
        kind, rest = pe[:2], pe[2:]
        if kind == "f:":
            out.append("." + rest)
            continue
        try:
            value = json.loads(rest)
        except ValueError:
            value = rest
        if kind == "k:" and isinstance(value, dict):
            out.append("[" + ",".join(f"{k}={_to_string(v)}" for k, v in value.items()) + "]")
        elif kind == "v:":
            out.append(f"[={_to_string(value)}]")
        else:
            out.append(f"[{rest}]")
    return "".join(out)


def ancestors(path: Path) -> list[Path]:
    """Proper, non-empty prefixes of a path, shortest first."""
    return [path[:i] for i in range(1, len(path))]
