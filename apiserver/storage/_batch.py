"""Planning one group-commit batch: preconditions, revisions, stamping, encoding.

Why it exists: the writer takes every pending write at once and must decide, before it touches
SQLite, which writes succeed and what each one stores. That decision is a pure function of
the ops, the current state and the next revision, so it lives here and is tested with tables
of cases; the writer only does the I/O around it.

Rules:
- ops are applied in order, each against the current state plus the effects of the earlier
  ops of the same batch (create then update of one key in one batch works);
- a failed precondition fails that op only and consumes no revision;
- each successful op gets the next revision; its object is stamped with
  `metadata.resourceVersion = str(revision)` and encoded with orjson exactly once (that is
  `KeyValue.raw`); a deletion stores the last object re-stamped with the deletion revision.

What it must never do: change the in-memory state (the writer applies `final` only after the
transaction commits) or encode an object twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from apiserver.storage._watchcache import Entry
from apiserver.storage.base import (
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageError,
)

# Event type codes as stored in the change log.
TYPE_CODES: dict[str, int] = {"ADDED": 0, "MODIFIED": 1, "DELETED": 2}
TYPE_NAMES: tuple[Literal["ADDED"], Literal["MODIFIED"], Literal["DELETED"]] = ("ADDED", "MODIFIED", "DELETED")


@dataclass(slots=True)
class Op:
    kind: Literal["create", "update", "delete"]
    key: str
    obj: dict[str, Any] | None = None
    expected_revision: int | None = None
    future: asyncio.Future[KeyValue] | None = None


@dataclass(slots=True)
class Plan:
    first_revision: int  # revision before the batch; the batch uses first+1 .. revision
    revision: int = 0
    results: list[KeyValue | StorageError] = field(default_factory=list)  # one per planned op
    entries: list[Entry] = field(default_factory=list)  # consecutive revisions, events set
    log_rows: list[tuple[int, str, int, bytes, int, int, bytes | None]] = field(default_factory=list)
    final: dict[str, KeyValue | None] = field(default_factory=dict)  # None: deleted
    size: int = 0  # bytes encoded


def stamp(obj: dict[str, Any], revision: int) -> None:
    """Set metadata.resourceVersion in place (the object belongs to the store now)."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    md["resourceVersion"] = str(revision)


def restamped(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    """A copy of obj (shared dicts untouched) with metadata.resourceVersion = revision."""
    copy = dict(obj)
    md = obj.get("metadata")
    md = dict(md) if isinstance(md, dict) else {}
    md["resourceVersion"] = str(revision)
    copy["metadata"] = md
    return copy


def plan_batch(
    ops: list[Op],
    lookup: Callable[[str], KeyValue | None],
    revision: int,
    max_bytes: int = 0,
) -> tuple[Plan, int]:
    """Plan ops in order; returns the plan and how many ops it took (it stops early, after at
    least one op, once `max_bytes` of encoded objects is exceeded; 0 = no bound)."""
    plan = Plan(first_revision=revision)
    final = plan.final
    taken = 0
    for op in ops:
        if max_bytes and taken and plan.size >= max_bytes:
            break
        taken += 1
        key = op.key
        cur = final[key] if key in final else lookup(key)
        if op.kind == "create":
            if cur is not None:
                plan.results.append(KeyExistsError(key))
                continue
        else:
            if cur is None:
                plan.results.append(KeyNotFoundError(key))
                continue
            if op.expected_revision is not None and op.expected_revision != cur.revision:
                plan.results.append(
                    ConflictError(f"{key}: expected revision {op.expected_revision}, stored {cur.revision}")
                )
                continue
        revision += 1
        kv: KeyValue
        obj = op.obj
        try:
            if op.kind != "delete":
                if not isinstance(obj, dict):
                    raise TypeError(f"object must be a dict, not {type(obj).__name__}")
                stamp(obj, revision)
                raw = orjson.dumps(obj)
        except (TypeError, orjson.JSONEncodeError) as exc:
            revision -= 1
            plan.results.append(StorageError(f"{key}: cannot encode: {exc}"))
            continue
        if op.kind == "delete":
            assert cur is not None
            obj = restamped(cur.obj, revision)
            raw = orjson.dumps(obj)
            kv = KeyValue(key, obj, raw, revision, cur.create_revision)
            event = Event("DELETED", kv, cur)
            final[key] = None
        else:
            assert obj is not None
            create_revision = revision if cur is None else cur.create_revision
            kv = KeyValue(key, obj, raw, revision, create_revision)
            event = Event("ADDED" if cur is None else "MODIFIED", kv, cur)
            final[key] = kv
        prev_revision = cur.revision if cur is not None else 0
        prev_raw = cur.raw if cur is not None else None
        plan.size += len(raw)
        plan.results.append(kv)
        plan.log_rows.append(
            (revision, key, TYPE_CODES[event.type], raw, kv.create_revision, prev_revision, prev_raw)
        )
        plan.entries.append(
            Entry(revision, event.type, key, raw, kv.create_revision, prev_revision, prev_raw, event)
        )
    plan.revision = revision
    return plan, taken
