"""The JSONPath subset that CustomResourceDefinition `additionalPrinterColumns` use, evaluated
over plain JSON objects the way the apiextensions table convertor does (missing keys allowed,
first result wins).

Supported: `.a.b`, `.a\\.b` (escaped dot), `['a.b']`, `[0]`, `[-1]`, `[*]`, `[1:3]` and filters
`[?(@.type=="Ready")]` with `==`, `!=`, `<`, `<=`, `>`, `>=` or a bare `[?(@.x)]` existence test.
It must never raise while evaluating: a column that does not resolve is an empty cell. Parsing
raises JSONPathError so that a CRD with a bad path can be rejected at validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class JSONPathError(ValueError):
    pass


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Filter:
    path: tuple[Any, ...]
    op: str | None  # None: existence test
    value: Any = None


_Step = _Field | _Index | _Slice | _Wildcard | _Filter
_FILTER = re.compile(r"^\s*@((?:\.[^\s=!<>]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")


def parse(path: str) -> tuple[_Step, ...]:
    """Parse `.status.conditions[?(@.type=="Ready")].status` into steps."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[_Step] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == ".":
            i += 1
            name = []
            while i < n and text[i] not in ".[":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                name.append(text[i])
                i += 1
            if name:
                steps.append(_Field("".join(name)))
        elif c == "[":
            depth, j = 0, i
            while j < n:
                if text[j] == "[":
                    depth += 1
                elif text[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                raise JSONPathError(f"unclosed [ in {path!r}")
            steps.append(_bracket(text[i + 1 : j].strip(), path))
            i = j + 1
        else:
            raise JSONPathError(f"unexpected {c!r} in {path!r}")
    return tuple(steps)


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _bracket(inner: str, path: str) -> _Step:
    if inner == "*":
        return _Wildcard()
    if inner.startswith("?(") and inner.endswith(")"):
        m = _FILTER.match(inner[2:-1])
        if not m:
            raise JSONPathError(f"unsupported filter {inner!r} in {path!r}")
        sub = parse(m.group(1)) if m.group(1) else ()
        return _Filter(sub, m.group(2), _literal(m.group(3)) if m.group(2) else None)
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _Field(inner[1:-1])
    if ":" in inner:
        a, _, b = inner.partition(":")
        b = b.split(":")[0]
        try:
            return _Slice(int(a) if a.strip() else None, int(b) if b.strip() else None)
        except ValueError as e:
            raise JSONPathError(f"bad slice {inner!r} in {path!r}") from e
    try:
        return _Index(int(inner))
    except ValueError as e:
        raise JSONPathError(f"unsupported [{inner}] in {path!r}") from e


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        return left == right or (isinstance(left, int | float) and str(left) == str(right))
    if op == "!=":
        return not _compare(left, "==", right)
    try:
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
    except TypeError:
        return False
    return False


def evaluate(steps: tuple[_Step, ...], obj: Any) -> list[Any]:
    """Every value the path reaches, in document order (missing keys reach nothing)."""
    current = [obj]
    for step in steps:
        nxt: list[Any] = []
        for value in current:
            if isinstance(step, _Field):
                if isinstance(value, dict) and step.name in value:
                    nxt.append(value[step.name])
            elif isinstance(step, _Index):
                if isinstance(value, list) and -len(value) <= step.index < len(value):
                    nxt.append(value[step.index])
            elif isinstance(step, _Slice):
                if isinstance(value, list):
                    nxt.extend(value[step.start : step.stop])
            elif isinstance(step, _Wildcard):
                if isinstance(value, list):
                    nxt.extend(value)
                elif isinstance(value, dict):
                    nxt.extend(value[k] for k in sorted(value))
            else:
                items = value if isinstance(value, list) else []
                for item in items:
                    found = evaluate(step.path, item)
                    if step.op is None:
                        if found:
                            nxt.append(item)
                    elif found and _compare(found[0], step.op, step.value):
                        nxt.append(item)
        current = nxt
    return current


def first(path: str | tuple[_Step, ...], obj: Any) -> tuple[bool, Any]:
    """(found, value) of the first result, as the CRD table convertor uses."""
    steps = parse(path) if isinstance(path, str) else path
    found = evaluate(steps, obj)
    if not found:
        return False, None
    return True, found[0]
