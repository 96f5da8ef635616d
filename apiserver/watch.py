"""Watch streams: newline-delimited `{"type","object"}` events from the store's watch cache.

Each stored event carries its object already encoded once (`KeyValue.raw`); a plain JSON
watcher only concatenates bytes around it, so fanning one event out to a thousand watchers
costs a thousand small concatenations, not a thousand encodings. Label and field selectors
follow Kubernetes: an object that stops matching arrives as DELETED, one that starts matching
as ADDED."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from apimachinery.errors import Gone
from apimachinery.resources import ResourceInfo
from apiserver.storage import CompactedError, Event, KeyValue, Store

log = logging.getLogger(__name__)

_TYPES = {t: b'{"type":"' + t.encode() + b'","object":' for t in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK",
                                                                  "ERROR")}


def event_line(type_: str, raw: bytes) -> bytes:
    return _TYPES[type_] + raw + b"}\n"


def error_line(err: Gone) -> bytes:
    return event_line("ERROR", orjson.dumps(err.status()))


async def stream(store: Store, res: ResourceInfo, prefix: str, *, resource_version: str,
                 matches: Callable[[dict[str, Any]], bool] | None,
                 encode: Callable[[str, KeyValue], bytes] | None,
                 initial: list[KeyValue] | None, initial_revision: int,
                 duration: float, bookmarks: bool, bookmark_interval: float = 30.0) -> AsyncIterator[bytes]:
    """Yield encoded events. `initial` (for resourceVersion "" or "0") are sent as ADDED
    first, then changes after `initial_revision`; otherwise changes after resource_version."""
    enc = encode or (lambda t, kv: event_line(t, kv.raw))
    if initial is not None:
        start = initial_revision
    else:
        try:
            start = int(resource_version)
        except ValueError:
            yield error_line(Gone(f"invalid resource version: {resource_version}"))
            return
    try:
        watch = store.watch(prefix, start)
    except CompactedError as e:
        yield error_line(Gone(f"too old resource version: {e.requested} ({e.oldest})"))
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    last_rv = start
    # One timer per stream, re-armed only when it fires, interrupts the wait for the next
    # event at the deadline and at each bookmark: fanning an event out to many watchers
    # then costs each of them no timer at all.
    timer: asyncio.TimerHandle | None = None

    def arm() -> None:
        nonlocal timer
        when = min(deadline, loop.time() + bookmark_interval) if bookmarks else deadline
        timer = loop.call_at(when, watch.interrupt)

    try:
        if initial is not None:
            for kv in initial:
                yield enc("ADDED", kv)
        arm()
        while True:
            try:
                ev = await watch.next()
            except StopAsyncIteration:
                return
            except CompactedError as e:
                yield error_line(Gone(f"too old resource version: {e.requested} ({e.oldest})"))
                return
            if ev is None:
                if loop.time() >= deadline - 0.005:  # timers may fire a clock tick early
                    return
                if bookmarks:
                    yield event_line("BOOKMARK", _bookmark(res, max(last_rv, store.revision)))
                arm()
                continue
            last_rv = ev.revision
            out = _filter(ev, matches)
            if out is not None:
                yield enc(out[0], out[1])
    finally:
        if timer is not None:
            timer.cancel()
        watch.close()


def _filter(ev: Event, matches: Callable[[dict[str, Any]], bool] | None) -> tuple[str, KeyValue] | None:
    if matches is None:
        return ev.type, ev.kv
    now_match = matches(ev.kv.obj)
    if ev.type == "ADDED":
        return ("ADDED", ev.kv) if now_match else None
    was = ev.prev is not None and matches(ev.prev.obj)
    if ev.type == "DELETED":
        return ("DELETED", ev.kv) if (was or now_match) else None
    if now_match and was:
        return "MODIFIED", ev.kv
    if now_match:
        return "ADDED", ev.kv
    if was:
        return "DELETED", ev.kv
    return None


def _bookmark(res: ResourceInfo, revision: int) -> bytes:
    return orjson.dumps({"kind": res.kind, "apiVersion": res.api_version,
                         "metadata": {"resourceVersion": str(revision)}})
