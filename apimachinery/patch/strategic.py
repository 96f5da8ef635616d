"""Strategic merge patch, as the API server applies it (k8s.io/apimachinery/pkg/util/
strategicpatch, StrategicMergeMapPatch) for built-in kinds, and the two-way diff that
produces one.

A strategic merge patch is a merge patch whose lists follow the field's patch strategy
(`schema.PATCH_META`): lists with a merge key are merged element by element on that key
(containers by name, ports by containerPort, env by name ...), lists of primitives with the
merge strategy are merged as sets, other lists are replaced. `null` deletes a field. The
directives kubectl sends are honoured: `$patch: replace|delete` on maps and list elements,
`$patch: replace` in a list, `$setElementOrder/<list>`, `$retainKeys`, and
`$deleteFromPrimitiveList/<list>`. Element order follows Kubernetes' rules exactly
($setElementOrder first, then the patch's order, then the live object's), including the
placement of new elements ahead of the live ones when no order is given.

The walk down the object uses the client models' field types (`schema.fields`) to know which
model each nested map is; with no model (None) every list is replaced, as in a merge patch.

Failures are `PatchError`s with the code Kubernetes answers for each (400 for malformed
directives, 500 for merge-key problems). No input is ever mutated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apimachinery import schema
from apimachinery.patch import (
    PatchError,
    bad_request,
    deep_copy,
    go_type,
    go_v,
    json_equal,
    json_kind,
    server_error,
    unprocessable,
)

__all__ = ["apply", "create"]

DIRECTIVE = "$patch"
DELETE = "delete"
REPLACE = "replace"
MERGE = "merge"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"

ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
ERR_LIST_OF_LISTS = "lists of lists are not supported"


# ---------------------------------------------------------------------------------------------
# helpers on Go's view of decoded JSON


def _same(a: Any, b: Any) -> bool:
    """Go's `==` on two interface{} values holding scalars."""
    return json_kind(a) == json_kind(b) and json_equal(a, b)


def _bad_arg_type(expected: Any, actual: Any) -> Exception:
    return server_error(f"expected a {go_type(expected)}, but received a {go_type(actual)}")


def _no_merge_key(m: Any, key: str | None) -> Exception:
    return server_error(f"map: {go_v(m)} does not contain declared merge key: {key or ''}")


def _lookup(schema_type: str | None, key: str) -> tuple[str | None, str, str | None, bool]:
    """(type string of the field, patch strategy without retainKeys, merge key, retainKeys?)
    of `key` in the map described by `schema_type` (a model name or a map type)."""
    if not schema_type:
        return None, "", None, False
    inner = schema._unwrap(schema_type)
    if inner is not None:
        return (inner[1], "", None, False) if inner[0] == "dict" else (None, "", None, False)
    if not schema.is_model(schema_type):
        return None, "", None, False
    meta = schema.patch_meta(schema_type, key)
    strategy, merge_key = meta if meta else ("", None)
    parts = [p for p in strategy.split(",") if p]
    retain = "retainKeys" in parts
    others = [p for p in parts if p != "retainKeys"]
    return schema.field_type(schema_type, key), (others[0] if others else ""), merge_key, retain


def _element_type(list_type: str | None) -> str | None:
    inner = schema._unwrap(list_type) if list_type else None
    return inner[1] if inner and inner[0] == "list" else None


def _extract_key(key: str, prefix: str) -> str:
    parts = key.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        if prefix == DELETE_FROM_PRIMITIVE_LIST:
            raise bad_request(ERR_PRIMITIVE_LIST)
        raise bad_request(ERR_SET_ELEMENT_ORDER)
    return parts[1]


def _slice_element_kind(*lists: list[Any]) -> str:
    prev: str | None = None
    for lst in lists:
        for v in lst:
            k = json_kind(v)
            if prev is None:
                prev = k
                if k == "array":
                    raise unprocessable(ERR_LIST_OF_LISTS)
            elif prev != k:
                raise server_error(f"list element types are not identical: {go_v(list(lists))}")
    if prev is None:
        raise server_error("no elements in any of the given slices")
    return prev


def _index(items: list[Any], value: Any, merge_key: str | None, kind: str) -> int:
    if kind == "object":
        def get(x: Any) -> Any:
            return x.get(merge_key) if isinstance(x, dict) else None
    else:
        def get(x: Any) -> Any:
            return x
    want = get(value)
    for i, v in enumerate(items):
        if _same(want, get(v)):
            return i
    return -1


def _dedupe_scalars(s: list[Any]) -> list[Any]:
    """Go's in-place deduplication (which moves the last element into each duplicate's slot)."""
    s = list(s)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if _same(s[i], s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


# Go's sort.SliceStable (insertion sort on blocks of 20, then SymMerge), reproduced because the
# comparator strategic merge patch uses is not a strict order: only an identical algorithm
# gives identical results.


def _go_stable_sort(data: list[Any], less: Callable[[Any, Any], bool]) -> None:
    n = len(data)
    if n <= 20:  # Go sorts short slices by insertion sort alone
        for i in range(1, n):
            j = i
            while j > 0 and less(data[j], data[j - 1]):
                data[j], data[j - 1] = data[j - 1], data[j]
                j -= 1
        return

    def lt(i: int, j: int) -> bool:
        return less(data[i], data[j])

    def swap(i: int, j: int) -> None:
        data[i], data[j] = data[j], data[i]

    def insertion(a: int, b: int) -> None:
        for i in range(a + 1, b):
            j = i
            while j > a and lt(j, j - 1):
                swap(j, j - 1)
                j -= 1

    def swap_range(a: int, b: int, k: int) -> None:
        for i in range(k):
            swap(a + i, b + i)

    def rotate(a: int, m: int, b: int) -> None:
        i, j = m - a, b - m
        while i != j:
            if i > j:
                swap_range(m - i, m, j)
                i -= j
            else:
                swap_range(m - i, m + j - i, i)
                j -= i
        swap_range(m - i, m, i)

    def sym_merge(a: int, m: int, b: int) -> None:
        if m - a == 1:
            i, j = m, b
            while i < j:
                h = (i + j) >> 1
                if lt(h, a):
                    i = h + 1
                else:
                    j = h
            for k in range(a, i - 1):
                swap(k, k + 1)
            return
        if b - m == 1:
            i, j = a, m
            while i < j:
                h = (i + j) >> 1
                if not lt(m, h):
                    i = h + 1
                else:
                    j = h
            for k in range(m, i, -1):
                swap(k, k - 1)
            return
        mid = (a + b) >> 1
        nn = mid + m
        if m > mid:
            start, r = nn - b, mid
        else:
            start, r = a, m
        p = nn - 1
        while start < r:
            c = (start + r) >> 1
            if not lt(p - c, c):
                start = c + 1
            else:
                r = c
        end = nn - start
        if start < m < end:
            rotate(start, m, end)
        if a < start < mid:
            sym_merge(a, start, mid)
        if mid < end < b:
            sym_merge(mid, end, b)

    block = 20
    a, b = 0, block
    while b <= n:
        insertion(a, b)
        a, b = b, b + block
    insertion(a, n)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            sym_merge(a, a + block, b)
            a, b = b, b + 2 * block
        m = a + block
        if m < n:
            sym_merge(a, m, n)
        block *= 2


def _validate_merge_key_in_lists(merge_key: str | None, *lists: list[Any]) -> None:
    for lst in lists:
        for item in lst:
            if not isinstance(item, dict):
                raise _bad_arg_type({}, item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)


def _extract_to_delete_items(items: list[Any]) -> tuple[list[Any], list[Any]]:
    keep, delete = [], []
    for v in items:
        if not isinstance(v, dict):
            raise _bad_arg_type({}, v)
        if v.get(DIRECTIVE) == DELETE:
            delete.append(v)
        else:
            keep.append(v)
    return keep, delete


def _normalize_slice_order(to_sort: list[Any], order: list[Any], merge_key: str | None, kind: str) -> list[Any]:
    to_delete: list[Any] = []
    if kind == "object":
        _validate_merge_key_in_lists(merge_key, to_sort, order)
        to_sort, to_delete = _extract_to_delete_items(to_sort)
    to_sort = list(to_sort)

    def less(x: Any, y: Any) -> bool:
        ii = _index(order, x, merge_key, kind)
        if ii >= 0:
            ij = _index(order, y, merge_key, kind)
            if ij >= 0:
                return ii < ij
        return True

    _go_stable_sort(to_sort, less)
    return to_sort + to_delete


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], merge_key: str | None,
                  kind: str) -> list[Any]:
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_element_order(patch: list[Any], server_only: list[Any], patch_order: list[Any],
                             server_order: list[Any], merge_key: str | None, kind: str) -> list[Any]:
    patch = _normalize_slice_order(patch, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted(server_only, patch, server_order, merge_key, kind)


def _partition_primitives(items: list[Any], by: list[Any]) -> tuple[list[Any], list[Any]]:
    inside: list[Any] = []
    outside: list[Any] = []
    for v in items:
        (inside if any(_same(v, b) for b in by) else outside).append(v)
    return inside, outside


def _find_by_key(items: list[Any], key: str, value: Any) -> int:
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise server_error(f"value for key {i} is not a map.")
        if key in v and _same(v[key], value):
            return i
    return -1


def _partition_maps(items: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    inside: list[Any] = []
    outside: list[Any] = []
    for v in items:
        if not isinstance(v, dict):
            raise _bad_arg_type({}, v)
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        (inside if _find_by_key(by, merge_key, v[merge_key]) >= 0 else outside).append(v)
    return inside, outside


# ---------------------------------------------------------------------------------------------
# apply


def _clean_new(value: Any, type_string: str | None, strategy: str = "", merge_key: str | None = None) -> Any:
    """A patch value that lands where the original has nothing: applied to an empty value, so
    that its nulls and directives do not reach storage."""
    if isinstance(value, dict):
        return _merge_map({}, value, type_string)
    if isinstance(value, list):
        if strategy == MERGE and value:
            try:
                return _merge_slice([], value, _element_type(type_string), merge_key, False)
            except PatchError:
                pass  # malformed for merging: stored as sent, as Kubernetes does
        elem = _element_type(type_string)
        return [_clean_new(v, elem) if isinstance(v, dict | list) else v for v in value]
    return value


def _directive_in_map(directive: Any, patch: dict[str, Any], type_string: str | None) -> dict[str, Any]:
    if directive == REPLACE:
        rest = {k: v for k, v in patch.items() if k != DIRECTIVE}
        return _merge_map({}, rest, type_string)
    if directive == DELETE:
        return {}
    raise server_error(f"unknown patch type: {go_v(directive)} in map: {go_v(patch)}")


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise bad_request(ERR_RETAIN_KEYS)
    for k, v in patch.items():
        if v is None or k.startswith(DELETE_FROM_PRIMITIVE_LIST) or k.startswith(SET_ELEMENT_ORDER):
            continue
        if not any(_same(k, r) for r in retain):
            raise bad_request(ERR_RETAIN_KEYS)
    for k in list(original):
        if not any(_same(k, r) for r in retain):
            del original[k]


def _validate_with_order_list(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    if not order or not patch_list:
        return
    if merge_key:
        keep, _ = _extract_to_delete_items(patch_list)
    else:
        keep = patch_list
    pi = si = 0
    while pi < len(keep) and si < len(order):
        item = keep[pi]
        if isinstance(item, dict) and DIRECTIVE in item:
            pi += 1
            continue
        if merge_key:
            if not isinstance(item, dict):
                raise _bad_arg_type({}, item)
            if not isinstance(order[si], dict):
                raise _bad_arg_type({}, order[si])
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            if merge_key not in order[si]:
                raise _no_merge_key(order[si], merge_key)
            equal = _same(item[merge_key], order[si][merge_key])
        else:
            equal = _same(item, order[si])
        if equal:
            pi += 1
        si += 1
    if pi < len(keep) and si >= len(order):
        raise server_error(f"The order in patch list:\n{go_v(patch_list)}\n doesn't match {SET_ELEMENT_ORDER} "
                           f"list:\n{go_v(order)}\n")


def _merge_set_element_order(original: dict[str, Any], patch: dict[str, Any], type_string: str | None) -> None:
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _bad_arg_type([], order)
        okey = _extract_key(key, SET_ELEMENT_ORDER)
        found_original, found_patch = okey in original, okey in patch
        original_list, patch_list = original.get(okey), patch.get(okey)
        if found_original and not isinstance(original_list, list):
            raise _bad_arg_type([], original_list)
        if found_patch and not isinstance(patch_list, list):
            raise _bad_arg_type([], patch_list)
        original_list = original_list or []
        patch_list = patch_list or []
        field_type, strategy, merge_key, _ = _lookup(type_string, okey)
        _validate_with_order_list(patch_list, order, merge_key)
        if found_original and not found_patch:
            merged = original_list
        elif found_patch and not found_original:
            merged = _clean_new(patch_list, field_type, strategy, merge_key)
        elif found_original and found_patch:
            merged = (_merge_slice(original_list, patch_list, _element_type(field_type), merge_key, False)
                      if strategy == MERGE else _clean_new(patch_list, field_type))
        else:
            continue
        patch.pop(okey, None)
        if not merged or (not original_list and not patch_list):
            original[okey] = merged
            continue
        kind = _slice_element_kind(original_list, patch_list)
        if not merge_key:
            if kind == "object":
                original[okey] = merged
                continue
            inside, outside = _partition_primitives(merged, order)
        else:
            inside, outside = _partition_maps(merged, order, merge_key)
        original[okey] = _normalize_element_order(inside, outside, order, original_list, merge_key, kind)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], type_string: str | None) -> dict[str, Any]:
    """mergeMap with MergeParallelList and IgnoreUnmatchedNulls; mutates and returns original
    (both arguments are private copies)."""
    if DIRECTIVE in patch:
        return _directive_in_map(patch[DIRECTIVE], patch, type_string)
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, type_string)
    for k, pv in list(patch.items()):
        is_delete_list = False
        if k.startswith(DELETE_FROM_PRIMITIVE_LIST):
            k = _extract_key(k, DELETE_FROM_PRIMITIVE_LIST)
            is_delete_list = True
        if pv is None:
            original.pop(k, None)
            continue
        field_type, strategy, merge_key, _ = _lookup(type_string, k)
        if k not in original or json_kind(original[k]) != json_kind(pv):
            if not is_delete_list:
                original[k] = _clean_new(pv, field_type, strategy, merge_key)
            continue
        ov = original[k]
        if isinstance(ov, dict):
            original[k] = _clean_new(pv, field_type) if strategy == REPLACE else _merge_map(ov, pv, field_type)
        elif isinstance(ov, list):
            if strategy == MERGE:
                original[k] = _merge_slice(ov, pv, _element_type(field_type), merge_key, is_delete_list)
            else:
                original[k] = _clean_new(pv, field_type)
        else:
            original[k] = pv
    return original


def _merge_slice(original: list[Any], patch: list[Any], elem_type: str | None, merge_key: str | None,
                 is_delete_list: bool) -> list[Any]:
    if not original and not patch:
        return original
    kind = _slice_element_kind(original, patch)
    if kind != "object":
        if is_delete_list:
            return [v for v in original if not any(_same(v, d) for d in patch)]
        merged = _dedupe_scalars(original + patch)
    else:
        if not merge_key:
            raise server_error(f"cannot merge lists without merge key for {elem_type or ''}")
        original, patch = _merge_special_elements(original, patch, merge_key, elem_type)
        merged = _merge_plain_elements(list(original), patch, merge_key, elem_type)
    if not merge_key:
        inside, outside = _partition_primitives(merged, patch)
    else:
        inside, outside = _partition_maps(merged, patch, merge_key)
    return _normalize_element_order(inside, outside, patch, original, merge_key, kind)


def _merge_special_elements(original: list[Any], patch: list[Any], merge_key: str,
                            elem_type: str | None) -> tuple[list[Any], list[Any]]:
    plain: list[Any] = []
    replace = False
    for v in patch:
        if DIRECTIVE not in v:
            plain.append(v)
            continue
        directive = v[DIRECTIVE]
        if directive == DELETE:
            if merge_key not in v:
                raise _no_merge_key(v, merge_key)
            while (i := _find_by_key(original, merge_key, v[merge_key])) >= 0:
                original = original[:i] + original[i + 1:]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise server_error("merging lists cannot yet be specified in the patch")
        else:
            raise server_error(f"unknown patch type: {go_v(directive)} in map: {go_v(v)}")
    if replace:
        return [_clean_new(v, elem_type) for v in plain], []
    return original, plain


def _merge_plain_elements(original: list[Any], patch: list[Any], merge_key: str,
                          elem_type: str | None) -> list[Any]:
    for v in patch:
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        i = _find_by_key(original, merge_key, v[merge_key])
        if i >= 0:
            original[i] = _merge_map(original[i], dict(v), elem_type)
        else:
            original.append(_clean_new(v, elem_type))
    return original


def apply(doc: dict[str, Any], patch: Any, model: str | None) -> dict[str, Any]:
    """`doc` with the strategic merge patch applied, walking the fields of `model` (a client
    model name such as 'V1Deployment', see `schema.model_for`; None for no schema)."""
    if not isinstance(patch, dict):
        raise bad_request(f"json: cannot unmarshal {_json_type_name(patch)} into Go value of type "
                          "map[string]interface {}")
    return _merge_map(deep_copy(doc) if isinstance(doc, dict) else {}, deep_copy(patch), model)


def _json_type_name(v: Any) -> str:
    return {"array": "array", "string": "string", "number": "number", "bool": "bool"}.get(json_kind(v), "null")


# ---------------------------------------------------------------------------------------------
# create (CreateTwoWayMergePatch)


def _sort_key_string(v: Any) -> str:
    return go_v(v)


def _diff_maps(original: dict[str, Any], modified: dict[str, Any], type_string: str | None,
               retain_keys: bool) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    retain: list[str] = []
    for key, mv in modified.items():
        if retain_keys and mv is not None:
            retain.append(key)
        if key not in original:
            patch[key] = deep_copy(mv)
            continue
        ov = original[key]
        if key == DIRECTIVE:
            if not isinstance(ov, str) or not isinstance(mv, str):
                raise server_error(f"invalid value for special key: {DIRECTIVE}")
            if ov != mv:
                patch[key] = mv
            continue
        if json_kind(ov) != json_kind(mv):
            patch[key] = deep_copy(mv)
            continue
        field_type, strategy, merge_key, field_retain = _lookup(type_string, key)
        if isinstance(ov, dict):
            if strategy == REPLACE:
                patch[key] = deep_copy(mv)
            else:
                sub = _diff_maps(ov, mv, field_type, field_retain)
                if sub:
                    patch[key] = sub
        elif isinstance(ov, list):
            if strategy == MERGE:
                add, delete, order = _diff_lists(ov, mv, _element_type(field_type), merge_key, field_retain)
                if add:
                    patch[key] = add
                if delete:
                    patch[f"{DELETE_FROM_PRIMITIVE_LIST}/{key}"] = delete
                if order:
                    patch[f"{SET_ELEMENT_ORDER}/{key}"] = order
            elif not json_equal(ov, mv):
                patch[key] = deep_copy(mv)
        elif not json_equal(ov, mv):
            patch[key] = mv
    for key in original:
        if key not in modified:
            patch[key] = None
    has_new_field = any(v is not None and k not in modified for k, v in original.items())
    if retain and (patch or has_new_field):
        patch[RETAIN_KEYS] = sorted(retain)
    return patch


def _diff_lists(original: list[Any], modified: list[Any], elem_type: str | None, merge_key: str | None,
                retain_keys: bool) -> tuple[list[Any], list[Any], list[Any]]:
    """(additions and changes, deletions of primitives, $setElementOrder list)."""
    if not original:
        return (deep_copy(modified) if modified else []), [], []
    kind = _slice_element_kind(original, modified)
    if kind == "array":
        raise unprocessable(ERR_LIST_OF_LISTS)
    if kind == "object":
        patch, deletions = _diff_lists_of_maps(original, modified, elem_type, merge_key or "", retain_keys)
        patch = _normalize_slice_order(patch, modified, merge_key, kind)
        same_order = len(original) == len(modified) and all(
            _same(o.get(merge_key), m.get(merge_key)) for o, m in zip(original, modified, strict=True))
        patch = patch + deletions
        order: list[Any] = []
        if patch or not same_order:
            order = [{merge_key: m.get(merge_key)} for m in modified]
        return patch, [], order
    add, delete = _diff_lists_of_scalars(original, modified)
    add = _normalize_slice_order(add, modified, merge_key, kind)
    order = list(modified) if (delete or not json_equal(original, modified)) else []
    return add, delete, order


def _diff_lists_of_maps(original: list[Any], modified: list[Any], elem_type: str | None, merge_key: str,
                        retain_keys: bool) -> tuple[list[Any], list[Any]]:
    for item in original + modified:
        if not isinstance(item, dict):
            raise _bad_arg_type({}, item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    orig = sorted(original, key=lambda m: _sort_key_string(m[merge_key]))
    mod = sorted(modified, key=lambda m: _sort_key_string(m[merge_key]))
    patch: list[Any] = []
    deletions: list[Any] = []
    i = j = 0
    while i < len(orig) or j < len(mod):
        os_ = _sort_key_string(orig[i][merge_key]) if i < len(orig) else None
        ms = _sort_key_string(mod[j][merge_key]) if j < len(mod) else None
        if os_ is not None and ms is not None and os_ == ms:
            sub = _diff_maps(orig[i], mod[j], elem_type, retain_keys)
            if sub:
                sub[merge_key] = mod[j][merge_key]
                patch.append(sub)
            i += 1
            j += 1
        elif os_ is None or (ms is not None and os_ > ms):
            patch.append(deep_copy(mod[j]))
            j += 1
        else:
            deletions.append({merge_key: orig[i][merge_key], DIRECTIVE: DELETE})
            i += 1
    return patch, deletions


def _diff_lists_of_scalars(original: list[Any], modified: list[Any]) -> tuple[list[Any], list[Any]]:
    orig = sorted(original, key=_sort_key_string)
    mod = sorted(modified, key=_sort_key_string)
    add: list[Any] = []
    delete: list[Any] = []
    i = j = 0
    while i < len(orig) or j < len(mod):
        os_ = _sort_key_string(orig[i]) if i < len(orig) else None
        ms = _sort_key_string(mod[j]) if j < len(mod) else None
        if os_ is not None and ms is not None and os_ == ms:
            i += 1
            j += 1
        elif os_ is None or (ms is not None and os_ > ms):
            add.append(mod[j])
            j += 1
        else:
            delete.append(orig[i])
            i += 1
    return add, _dedupe_scalars(delete)


def create(original: dict[str, Any], modified: dict[str, Any], model: str | None) -> dict[str, Any]:
    """The strategic merge patch that turns `original` into `modified` (CreateTwoWayMergePatch,
    with `$setElementOrder` lists as kubectl sends them); `{}` when they are equal."""
    return _diff_maps(original or {}, modified or {}, model, False)
