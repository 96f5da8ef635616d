"""Pure parts of the SQLite store: sorted state, batch planning, the watch ring."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest

from apiserver.storage._batch import Op, plan_batch
from apiserver.storage._state import SortedKeys, SortedState, prefix_end
from apiserver.storage._watchcache import Entry, WatchCache
from apiserver.storage.base import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageError,
)


def kv(key: str, revision: int, create_revision: int | None = None) -> KeyValue:
    obj = {"metadata": {"name": key.rsplit("/", 1)[-1], "resourceVersion": str(revision)}}
    return KeyValue(key, obj, orjson.dumps(obj), revision, create_revision or revision)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("/registry/pods/", "/registry/pods0"),
        ("a", "b"),
        ("", None),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


KEYS = [
    "/r/pods/ns1/a", "/r/pods/ns1/b", "/r/pods/ns1/c", "/r/pods/ns10/a", "/r/pods/ns2/a",
    "/r/pods0", "/r/services/ns1/a",
]


@pytest.mark.parametrize(
    ("prefix", "limit", "start_after", "keys", "remaining"),
    [
        ("/r/pods/", 0, "", KEYS[:5], 0),
        ("/r/pods/ns1/", 0, "", KEYS[:3], 0),
        ("/r/pods/ns1/", 2, "", KEYS[:2], 1),
        ("/r/pods/ns1/", 2, "/r/pods/ns1/b", KEYS[2:3], 0),
        ("/r/pods/ns1/", 0, "/r/pods/ns1/c", [], 0),
        ("/r/pods/", 1, "/r/pods/ns1/c", KEYS[3:4], 1),
        ("/r/pods/", 0, "/r/a", KEYS[:5], 0),  # start_after before the prefix: ignored
        ("/r/", 3, "", KEYS[:3], 4),
        ("", 0, "", KEYS, 0),
        ("/x/", 0, "", [], 0),
    ],
)
def test_sorted_state_list(prefix: str, limit: int, start_after: str, keys: list[str], remaining: int) -> None:
    state = SortedState()
    for i, k in enumerate(reversed(KEYS)):
        state.put(kv(k, i + 1))
    items, rest = state.list(prefix, limit, start_after)
    assert [i.key for i in items] == keys
    assert rest == remaining
    assert state.count(prefix) == len(state.list(prefix)[0])


def test_sorted_state_put_replace_remove() -> None:
    state = SortedState([kv("/b", 1), kv("/a", 2)])
    state.put(kv("/a", 3))
    state.put(kv("/c", 4))
    state.remove("/b")
    state.remove("/missing")
    assert state.keys() == ["/a", "/c"]
    assert state.get("/a").revision == 3  # type: ignore[union-attr]
    assert len(state) == 2


def test_sorted_keys_in_small_chunks_agree_with_a_sorted_list() -> None:
    """Random inserts and removals with chunks of 4 keys (so chunks split and empty often):
    every prefix list, page and count is what one sorted list gives."""
    rng = random.Random(7)
    state = SortedState()
    state._keys = SortedKeys(chunk=4)
    model: dict[str, int] = {}
    for step in range(3000):
        key = f"/r/{rng.choice('abc')}/{rng.randrange(200):03}"
        if key in model and rng.random() < 0.4:
            state.remove(key)
            del model[key]
        else:
            state.put(kv(key, step + 1))
            model[key] = step + 1
        if step % 50:
            continue
        ordered = sorted(model)
        assert state.keys() == ordered
        for prefix in ("", "/r/", "/r/b/", "/r/b/1", "/zz"):
            under = [k for k in ordered if k.startswith(prefix)]
            assert state.count(prefix) == len(under)
            after = rng.choice(under) if under else ""
            limit = rng.randrange(0, 30)
            items, rest = state.list(prefix, limit, after)
            following = [k for k in under if k > after]
            wanted = following[:limit] if limit else following
            assert [i.key for i in items] == wanted
            assert rest == len(following) - len(wanted)
            assert all(i.revision == model[i.key] for i in items)


def _obj(name: str) -> dict:
    return {"metadata": {"name": name}}


# (ops, stored keys, expected outcome per op: revision or error type)
PLAN_CASES = [
    pytest.param([Op("create", "/a", _obj("a"))], [], [11], id="create"),
    pytest.param([Op("create", "/s", _obj("s"))], ["/s"], [KeyExistsError], id="create-exists"),
    pytest.param([Op("update", "/x", _obj("x"))], [], [KeyNotFoundError], id="update-missing"),
    pytest.param([Op("delete", "/x")], [], [KeyNotFoundError], id="delete-missing"),
    pytest.param([Op("update", "/s", _obj("s"), 5)], ["/s"], [11], id="update-expected-ok"),
    pytest.param([Op("update", "/s", _obj("s"), 4)], ["/s"], [ConflictError], id="update-conflict"),
    pytest.param([Op("delete", "/s", None, 4)], ["/s"], [ConflictError], id="delete-conflict"),
    pytest.param(
        [Op("create", "/a", _obj("a")), Op("update", "/a", _obj("a"), 11), Op("delete", "/a", None, 12),
         Op("create", "/a", _obj("a"))],
        [], [11, 12, 13, 14], id="batch-sees-its-own-effects",
    ),
    pytest.param(
        [Op("create", "/a", {"bad": {1, 2}}), Op("create", "/b", [1]), Op("create", "/c", _obj("c"))],  # type: ignore[arg-type]
        [], [StorageError, StorageError, 11], id="unencodable-fails-alone",
    ),
    pytest.param(
        [Op("create", "/a", _obj("a")), Op("create", "/a", _obj("a")), Op("update", "/a", _obj("a"), 5),
         Op("create", "/b", _obj("b"))],
        [], [11, KeyExistsError, ConflictError, 12], id="failures-consume-no-revision",
    ),
]


@pytest.mark.parametrize(("ops", "stored", "outcomes"), PLAN_CASES)
def test_plan_batch(ops: list[Op], stored: list[str], outcomes: list) -> None:
    state = {k: kv(k, 5) for k in stored}
    plan, taken = plan_batch(ops, state.get, 10)
    assert taken == len(ops)
    got = [r.revision if isinstance(r, KeyValue) else type(r) for r in plan.results]
    assert got == outcomes
    assert [e.revision for e in plan.entries] == list(range(11, plan.revision + 1))
    for result in plan.results:
        if isinstance(result, KeyValue):
            assert result.obj["metadata"]["resourceVersion"] == str(result.revision)
            assert orjson.loads(result.raw) == result.obj
    assert state == {k: kv(k, 5) for k in stored}  # planning never touches the state


def test_plan_batch_delete_restamps_a_copy() -> None:
    stored = kv("/s", 5)
    plan, _ = plan_batch([Op("delete", "/s")], {"/s": stored}.get, 10)
    deleted = plan.results[0]
    assert isinstance(deleted, KeyValue)
    assert deleted.obj["metadata"]["resourceVersion"] == "11"
    assert stored.obj["metadata"]["resourceVersion"] == "5"  # shared object untouched
    assert plan.entries[0].event == Event("DELETED", deleted, stored)
    assert plan.final == {"/s": None}
    assert plan.log_rows == [(11, "/s", 2, deleted.raw, stored.create_revision, 5, stored.raw)]


def test_plan_batch_stops_at_max_bytes() -> None:
    ops = [Op("create", f"/k{i}", {"data": "x" * 100}) for i in range(5)]
    plan, taken = plan_batch(ops, {}.get, 0, max_bytes=250)  # each encodes to ~145 bytes
    assert taken == 2
    assert plan.revision == 2
    plan, taken = plan_batch(ops[:1], {}.get, 0, max_bytes=10)  # always at least one
    assert taken == 1


def _entries(cache: WatchCache, keys: list[str]) -> None:
    for key in keys:
        rev = cache.revision + 1
        value = kv(key, rev)
        cache.append(Entry(rev, "ADDED", key, value.raw, rev, 0, None, Event("ADDED", value)))


def _decode(e: Entry) -> Event:
    return Event(e.type, KeyValue(e.key, orjson.loads(e.raw), e.raw, e.revision, e.create_revision))


async def _take(w, n: int) -> list[int]:
    out = []
    async with asyncio.timeout(5):
        async for ev in w:
            out.append(ev.revision)
            if len(out) == n:
                break
    return out


async def test_watch_cache_backlog_then_live_without_gap() -> None:
    cache = WatchCache(10, 100, _decode)
    _entries(cache, ["/a/1", "/b/1", "/a/2"])
    w = cache.watch("/a/", 0)
    assert await _take(w, 2) == [1, 3]
    _entries(cache, ["/a/3", "/b/2", "/a/4"])
    assert await _take(w, 2) == [4, 6]
    w.close()
    assert [e async for e in w] == []


async def test_watch_interrupt_ends_one_wait_and_loses_no_event() -> None:
    import asyncio
    cache = WatchCache(10, 100, _decode)
    w = cache.watch("/a/", 0)
    waiting = asyncio.ensure_future(w.next())
    await asyncio.sleep(0)
    w.interrupt()
    assert await waiting is None  # the wait ended, with no event
    _entries(cache, ["/a/1"])
    w.interrupt()  # interrupted while not waiting: the next call returns at once
    assert await w.next() is None
    ev = await w.next()  # and the event is still there
    assert ev is not None and ev.revision == 1
    w.close()
    assert [e async for e in w] == []


async def test_watch_cache_ring_overwrite_is_compacted() -> None:
    cache = WatchCache(4, 100, _decode)
    _entries(cache, [f"/a/{i}" for i in range(10)])
    assert cache.compacted == 6
    with pytest.raises(CompactedError):
        cache.watch("/a/", 5)
    assert await _take(cache.watch("/a/", 6), 4) == [7, 8, 9, 10]
    cache.compact(8)
    with pytest.raises(CompactedError):
        cache.watch("", 7)


async def test_watch_cache_overflow_falls_back_to_ring_then_compacted() -> None:
    cache = WatchCache(8, 2, _decode)
    w = cache.watch("/", 0)
    task = asyncio.create_task(_take(w, 1))
    await asyncio.sleep(0)  # the watcher catches up and subscribes
    _entries(cache, ["/a"])
    assert await task == [1]
    _entries(cache, [f"/b{i}" for i in range(5)])  # more than its queue of 2
    assert cache.overflows == 1
    assert await _take(w, 5) == [2, 3, 4, 5, 6]  # read back from the ring, in order
    _entries(cache, [f"/c{i}" for i in range(20)])  # more than the ring holds
    with pytest.raises(CompactedError):
        await _take(w, 1)
    assert [e async for e in w] == []
