"""JSON patch (RFC 6902) as Kubernetes applies it (evanphx/json-patch v4, which the API server
uses): add, remove, replace, move, copy and test, JSON pointers with `~0`/`~1` escapes,
negative array indices, and the library's error messages.

Failures are `PatchError`s: 400 for a body that is not a patch, 413 for more than 10,000
operations, and 422 Invalid (`the server rejected our request due to an error in our
request`, with the library's message as the cause, e.g. `testing value /x failed: test
failed`) for operations that do not apply. The input document is never mutated."""

from __future__ import annotations

import re
from typing import Any

from apimachinery.patch import PatchError, bad_request, deep_copy, json_equal, unprocessable

__all__ = ["MAX_OPERATIONS", "apply"]

MAX_OPERATIONS = 10000
_MISSING = "missing value"
_INVALID_INDEX = "invalid index referenced"
_TEST_FAILED = "test failed"
_INT_RE = re.compile(r"^[+-]?[0-9]+$")


class _OpError(Exception):
    """A library error message, turned into a 422 at the top."""


def _decode_key(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _atoi(key: str) -> int:
    if not _INT_RE.match(key):
        raise _OpError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    n = int(key)
    if not -(2**63) <= n < 2**63:
        raise _OpError(f'strconv.Atoi: parsing "{key}": value out of range')
    return n


def _get(con: Any, key: str) -> Any:
    if isinstance(con, dict):
        return con.get(key)
    idx = _atoi(key)
    if idx >= len(con):
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    if idx < 0:
        if idx < -len(con):
            raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
        idx += len(con)
    return con[idx]


def _set(con: Any, key: str, value: Any) -> None:
    if isinstance(con, dict):
        con[key] = value
        return
    idx = _atoi(key)
    if idx >= len(con) or idx < -len(con):
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    con[idx] = value


def _add(con: Any, key: str, value: Any) -> None:
    if isinstance(con, dict):
        con[key] = value
        return
    if key == "-":
        con.append(value)
        return
    try:
        idx = _atoi(key)
    except _OpError as e:
        raise _OpError(f"value was not a proper array index: '{key}': {e}") from None
    size = len(con) + 1
    if idx >= size:
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    if idx < 0:
        if idx < -size:
            raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
        idx += size
    con.insert(idx, value)


def _remove(con: Any, key: str) -> None:
    if isinstance(con, dict):
        if key not in con:
            raise _OpError(f"Unable to remove nonexistent key: {key}: {_MISSING}")
        del con[key]
        return
    idx = _atoi(key)
    if idx >= len(con):
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    if idx < 0:
        if idx < -len(con):
            raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
        idx += len(con)
    del con[idx]


def _find(doc: Any, path: str) -> tuple[Any, str] | None:
    """The container holding the last segment of `path`, and that segment (findObject)."""
    split = path.split("/")
    if len(split) < 2:
        return None
    con = doc
    for part in split[1:-1]:
        try:
            nxt = _get(con, _decode_key(part))
        except _OpError:
            return None
        if not isinstance(nxt, dict | list):
            return None
        con = nxt
    if not isinstance(con, dict | list):
        return None
    return con, _decode_key(split[-1])


def _str_field(op: dict[str, Any], name: str) -> str | None:
    v = op.get(name)
    return v if isinstance(v, str) else None


def _path(op: dict[str, Any], kind: str) -> str:
    p = _str_field(op, "path")
    if p is None:
        raise _OpError(f"{kind} operation failed to decode path: {_MISSING}")
    return p


def _from(op: dict[str, Any], kind: str) -> str:
    p = _str_field(op, "from")
    if p is None:
        raise _OpError(f"{kind} operation failed to decode from: operation, missing from field: {_MISSING}")
    return p


def _apply_op(doc: Any, op: dict[str, Any]) -> None:
    kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
    if kind == "add":
        path = _path(op, "add")
        found = _find(doc, path)
        if found is None:
            raise _OpError(f'add operation does not apply: doc is missing path: "{path}": {_MISSING}')
        try:
            _add(found[0], found[1], deep_copy(op.get("value")))
        except _OpError as e:
            raise _OpError(f"error in add for path: '{path}': {e}") from None
    elif kind == "remove":
        path = _path(op, "remove")
        found = _find(doc, path)
        if found is None:
            raise _OpError(f'remove operation does not apply: doc is missing path: "{path}": {_MISSING}')
        try:
            _remove(*found)
        except _OpError as e:
            raise _OpError(f"error in remove for path: '{path}': {e}") from None
    elif kind == "replace":
        path = _path(op, "replace")
        found = _find(doc, path)
        if found is None:
            raise _OpError(f"replace operation does not apply: doc is missing path: {path}: {_MISSING}")
        try:
            _get(*found)
        except _OpError:
            raise _OpError(f"replace operation does not apply: doc is missing key: {path}: {_MISSING}") from None
        try:
            _set(found[0], found[1], deep_copy(op.get("value")))
        except _OpError as e:
            raise _OpError(f"error in remove for path: '{path}': {e}") from None
    elif kind == "move":
        src = _from(op, "move")
        found = _find(doc, src)
        if found is None:
            raise _OpError(f"move operation does not apply: doc is missing from path: {src}: {_MISSING}")
        try:
            value = _get(*found)
            _remove(*found)
        except _OpError as e:
            raise _OpError(f"error in move for path: '{found[1]}': {e}") from None
        path = _path(op, "move")
        dest = _find(doc, path)
        if dest is None:
            raise _OpError(f"move operation does not apply: doc is missing destination path: {path}: {_MISSING}")
        try:
            _add(dest[0], dest[1], value)
        except _OpError as e:
            raise _OpError(f"error in move for path: '{dest[1]}': {e}") from None
    elif kind == "copy":
        src = _from(op, "copy")
        found = _find(doc, src)
        if found is None:
            raise _OpError(f"copy operation does not apply: doc is missing from path: {src}: {_MISSING}")
        try:
            value = _get(*found)
        except _OpError as e:
            raise _OpError(f"error in copy for from: '{src}': {e}") from None
        path = _path(op, "copy")
        dest = _find(doc, path)
        if dest is None:
            raise _OpError(f"copy operation does not apply: doc is missing destination path: {path}: {_MISSING}")
        try:
            _add(dest[0], dest[1], deep_copy(value))
        except _OpError as e:
            raise _OpError(f"error while adding value during copy: {e}") from None
    elif kind == "test":
        path = _path(op, "test")
        found = _find(doc, path)
        if found is None:
            raise _OpError(f"test operation does not apply: is missing path: {path}: {_MISSING}")
        try:
            value = _get(*found)
        except _OpError as e:
            raise _OpError(f"error in test for path: '{path}': {e}") from None
        want = op.get("value")
        if value is None and want is None:
            return
        if value is None or want is None or not json_equal(value, want):
            raise _OpError(f"testing value {path} failed: {_TEST_FAILED}")
    else:
        raise _OpError(f"Unexpected kind: {kind}")


def apply(doc: Any, ops: Any) -> Any:
    """The document with the JSON patch `ops` (a decoded list of operations) applied."""
    if not isinstance(ops, list):
        raise bad_request(f"json: cannot unmarshal {_json_type_name(ops)} into Go value of type jsonpatch.Patch")
    for op in ops:
        if not isinstance(op, dict):
            raise bad_request(f"json: cannot unmarshal {_json_type_name(op)} into Go value of type "
                              "map[string]*json.RawMessage")
    if len(ops) > MAX_OPERATIONS:
        err = PatchError(413, "RequestEntityTooLarge",
                         f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {len(ops)}")
        err.detail = err.message
        raise err
    result = deep_copy(doc)
    for op in ops:
        try:
            _apply_op(result, op)
        except _OpError as e:
            raise unprocessable(str(e)) from None
    return result


def _json_type_name(v: Any) -> str:
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return "null"
