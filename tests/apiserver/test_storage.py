"""SQLiteStore on real SQLite files: what the API server relies on."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from apiserver.storage.base import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    StorageError,
)
from apiserver.storage.sqlite import SQLiteStore
from mizzen.testing import sqlite_writers

REPO = Path(__file__).resolve().parents[2]
PODS = "/registry/core/pods/"


def pod(name: str, ns: str = "default", **extra) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, **extra}


Opener = Callable[..., Awaitable[SQLiteStore]]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
async def open_store(db: Path) -> AsyncIterator[Opener]:
    """Opens stores on the test's file and closes them all at the end, even on failure (an
    unclosed aiosqlite connection would keep the test process alive)."""
    opened: list[SQLiteStore] = []

    async def _open(**options: Any) -> SQLiteStore:
        s = SQLiteStore(db, **options)
        await s.start()
        opened.append(s)
        return s

    yield _open
    for s in opened:
        await s.close()


@pytest.fixture
async def store(open_store: Opener) -> SQLiteStore:
    return await open_store()


async def take(w, n: int) -> list[Event]:
    """The next n events (a hang guard, not a timing assertion)."""
    out: list[Event] = []
    if n == 0:
        return out
    async with asyncio.timeout(10):
        async for ev in w:
            out.append(ev)
            if len(out) == n:
                break
    return out


def wal_size(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return wal.stat().st_size if wal.exists() else 0


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def test_crud_and_preconditions(store: SQLiteStore) -> None:
    key = PODS + "default/web"
    created = await store.create(key, pod("web"))
    assert created.revision == created.create_revision == store.revision == rv(created.obj)
    assert orjson.loads(created.raw) == created.obj
    assert await store.get(key) == created

    with pytest.raises(KeyExistsError):
        await store.create(key, pod("web"))
    with pytest.raises(KeyNotFoundError):
        await store.update(PODS + "default/nope", pod("nope"))
    with pytest.raises(ConflictError):
        await store.update(key, pod("web", spec={"x": 1}), expected_revision=created.revision + 100)

    updated = await store.update(key, pod("web", spec={"x": 1}), expected_revision=created.revision)
    assert updated.revision > created.revision
    assert updated.create_revision == created.create_revision
    unconditional = await store.update(key, pod("web", spec={"x": 2}))  # kubectl replace sends no RV
    assert (await store.get(key)).obj["spec"] == {"x": 2}  # type: ignore[union-attr]

    with pytest.raises(ConflictError):
        await store.delete(key, expected_revision=updated.revision)
    deleted = await store.delete(key, expected_revision=unconditional.revision)
    assert deleted.revision == store.revision == rv(deleted.obj)
    assert deleted.obj["spec"] == {"x": 2}
    assert await store.get(key) is None
    with pytest.raises(KeyNotFoundError):
        await store.delete(key)
    again = await store.create(key, pod("web"))
    assert again.create_revision == again.revision > deleted.revision
    assert store.stats["rejected"] == 5


async def test_revisions_are_monotonic_and_equal_resource_version(store: SQLiteStore) -> None:
    seen = []
    for i in range(5):
        seen.append(await store.create(f"{PODS}ns/p{i}", pod(f"p{i}", "ns")))
        seen.append(await store.update(f"{PODS}ns/p{i}", pod(f"p{i}", "ns", spec={"i": i})))
    seen.append(await store.delete(f"{PODS}ns/p0"))
    revisions = [kv.revision for kv in seen]
    assert revisions == list(range(revisions[0], revisions[0] + len(seen)))
    assert all(rv(kv.obj) == kv.revision and rv(orjson.loads(kv.raw)) == kv.revision for kv in seen)
    assert store.revision == revisions[-1]


async def test_list_pages_are_consistent_with_prefix(store: SQLiteStore) -> None:
    for ns in ("ns1", "ns10", "ns2"):
        for i in range(7):
            await store.create(f"{PODS}{ns}/p{i:02}", pod(f"p{i:02}", ns))
    await store.create("/registry/core/configmaps/ns1/c", {"metadata": {"name": "c"}})

    full = await store.list(PODS + "ns1/")
    assert [kv.key for kv in full.items] == [f"{PODS}ns1/p{i:02}" for i in range(7)]
    assert full.remaining == 0 and full.revision == store.revision
    assert await store.count(PODS + "ns1/") == 7
    assert await store.count(PODS) == 21

    pages, after = [], ""
    while True:
        page = await store.list(PODS, limit=5, start_after=after)
        pages.append(page)
        if not page.remaining:
            break
        after = page.items[-1].key
    assert [len(p.items) for p in pages] == [5, 5, 5, 5, 1]
    assert [p.remaining for p in pages] == [16, 11, 6, 1, 0]
    assert [kv.key for p in pages for kv in p.items] == [kv.key for kv in (await store.list(PODS)).items]


async def test_watch_from_old_current_live_and_prefix(store: SQLiteStore) -> None:
    a = await store.create(PODS + "a/x", pod("x", "a"))
    await store.create(PODS + "b/x", pod("x", "b"))
    a2 = await store.update(PODS + "a/x", pod("x", "a", spec={"v": 2}))
    current = store.revision

    from_old = store.watch(PODS + "a/", 0)
    from_current = store.watch(PODS + "a/", current)
    everything = store.watch("/registry/", a.revision)

    backlog = await take(from_old, 2)
    assert [(e.type, e.revision) for e in backlog] == [("ADDED", a.revision), ("MODIFIED", a2.revision)]
    assert backlog[1].prev == a

    live = asyncio.create_task(take(from_current, 1))
    await asyncio.sleep(0)
    await store.create(PODS + "b/y", pod("y", "b"))  # other prefix: not for these watchers
    deleted = await store.delete(PODS + "a/x")
    events = await live
    assert [(e.type, e.revision) for e in events[:1]] == [("DELETED", deleted.revision)]
    assert events[0].kv == deleted and rv(events[0].kv.obj) == deleted.revision
    assert events[0].prev == a2
    assert [(e.type, e.revision) for e in await take(from_old, 1)] == [("DELETED", deleted.revision)]

    all_events = await take(everything, 4)
    assert [e.revision for e in all_events] == list(range(a.revision + 1, store.revision + 1))
    for w in (from_old, from_current, everything):
        w.close()


async def test_watch_hand_over_has_no_gap_or_duplicate(store: SQLiteStore) -> None:
    async def writer(i: int) -> None:
        for j in range(40):
            await store.create(f"{PODS}w{i}/p{j}", pod(f"p{j}", f"w{i}"))

    tasks = [asyncio.create_task(writer(i)) for i in range(8)]
    watches = []
    while not all(t.done() for t in tasks) and len(watches) < 50:
        start = store.revision // 2  # mid-stream, from a past revision
        watches.append((start, store.watch(PODS, start)))
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    assert len(watches) > 1
    for start, w in watches:
        events = await take(w, store.revision - start)
        assert [e.revision for e in events] == list(range(start + 1, store.revision + 1))
        w.close()


async def test_compaction_makes_old_revisions_gone(db: Path, open_store: Opener) -> None:
    store = await open_store()
    await store.create(f"{PODS}ns/p", pod("p", "ns"))
    for i in range(29):  # revisions 2..30 supersede each other: only 30 is the pod's state
        await store.update(f"{PODS}ns/p", pod("p", "ns", spec={"i": i}))
    slow = store.watch(PODS, 0)
    oldest = await store.compact(5)
    assert oldest == store.oldest_revision == store.revision - 5
    with pytest.raises(CompactedError):
        store.watch(PODS, oldest - 1)
    assert [e.revision for e in await take(store.watch(PODS, oldest), 5)] == list(range(oldest + 1, 31))
    with pytest.raises(CompactedError):
        await take(slow, 1)  # it still needed revision 1
    await store.create(f"{PODS}ns/last", pod("last", "ns"))  # the log is trimmed between batches
    await store.close()
    assert store.stats["compacted_rows"] == oldest

    with closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("SELECT MIN(revision), MAX(revision) FROM log").fetchone() == (oldest + 1, 31)
        assert conn.execute("SELECT value FROM meta WHERE name = 'compacted'").fetchone() == (oldest,)
    reopened = await open_store()
    assert reopened.revision == 31 and reopened.oldest_revision == oldest
    await reopened.close()


async def test_compaction_keeps_each_state_until_a_write_supersedes_it(db: Path, open_store: Opener) -> None:
    """The change log is the store: compaction removes old revisions but not those that are
    still a key's state, and the update or delete that supersedes such a row removes it."""
    store = await open_store()
    for name in ("a", "b", "c"):  # revisions 1, 2, 3
        await store.create(f"{PODS}ns/{name}", pod(name, "ns"))
    await store.update(f"{PODS}ns/b", pod("b", "ns", spec={"v": 2}))  # 4: revision 2 is history now
    for i in range(10):  # 5..14
        await store.create(f"{PODS}ns/x{i}", pod(f"x{i}", "ns"))
    assert await store.compact(2) == 12
    await store.create(f"{PODS}ns/last", pod("last", "ns"))  # 15; the log is trimmed between batches
    await store.delete(f"{PODS}ns/a")  # 16 supersedes 1
    await store.update(f"{PODS}ns/c", pod("c", "ns", spec={"v": 2}))  # 17 supersedes 3
    await store.close()

    with closing(sqlite3.connect(db)) as conn, conn:
        kept = [r for (r,) in conn.execute("SELECT revision FROM log WHERE revision <= 12 ORDER BY revision")]
    assert kept == [4, *range(5, 13)]  # b's state and the x pods; a and c went with their successors

    store = await open_store()
    assert store.revision == 17 and store.oldest_revision == 12
    assert await store.get(f"{PODS}ns/a") is None
    b, c = await store.get(f"{PODS}ns/b"), await store.get(f"{PODS}ns/c")
    assert b is not None and (b.revision, b.create_revision, b.obj["spec"]) == (4, 2, {"v": 2})
    assert c is not None and (c.revision, c.create_revision) == (17, 3)
    assert len((await store.list(PODS)).items) == 13  # b, c, x0..x9, last
    assert [e.type for e in await take(store.watch(PODS, 12), 5)] == ["ADDED"] * 3 + ["DELETED", "MODIFIED"]
    assert (await store.create(f"{PODS}ns/a", pod("a", "ns"))).revision == 18


async def test_a_database_of_the_first_format_is_migrated(db: Path, open_store: Opener) -> None:
    """Format 1 kept the state in a `kv` table beside the log: at start it moves into the log
    (the states whose log rows were compacted away included) and the table goes."""
    def obj(name: str, rev: int, **extra: Any) -> bytes:
        return orjson.dumps({"metadata": {"name": name, "resourceVersion": str(rev)}, **extra})

    with closing(sqlite3.connect(db)) as conn, conn:
        conn.executescript("""
            CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, mod_revision INTEGER NOT NULL,
                             create_revision INTEGER NOT NULL);
            CREATE TABLE log (revision INTEGER PRIMARY KEY, key TEXT NOT NULL, type INTEGER NOT NULL,
                              value BLOB NOT NULL, create_revision INTEGER NOT NULL, prev_revision INTEGER NOT NULL,
                              prev_value BLOB);
            CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO meta VALUES ('format', 1), ('compacted', 5);
        """)
        # /x was last written at 5 (compacted away from the log), /z deleted at 6, /y created at 7
        conn.execute("INSERT INTO kv VALUES (?, ?, 5, 2), (?, ?, 7, 7)",
                     ("/x", obj("x", 5, data={"v": "5"}), "/y", obj("y", 7)))
        conn.execute("INSERT INTO log VALUES (6, '/z', 2, ?, 4, 4, ?), (7, '/y', 0, ?, 7, 0, NULL)",
                     (obj("z", 6), obj("z", 4), obj("y", 7)))

    for _ in range(2):  # migrated, then opened as it is
        store = await open_store()
        x, y = await store.get("/x"), await store.get("/y")
        assert x is not None and (x.revision, x.create_revision, x.obj["data"]) == (5, 2, {"v": "5"})
        assert y is not None and (y.revision, y.create_revision) == (7, 7)
        assert await store.get("/z") is None and store.revision == 7 and store.oldest_revision == 5
        assert [(e.type, e.kv.key) for e in await take(store.watch("/", 5), 2)] == [("DELETED", "/z"), ("ADDED", "/y")]
        await store.close()
    with closing(sqlite3.connect(db)) as conn, conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"log", "meta"}
        assert conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone() == (2,)
    store = await open_store()
    assert (await store.update("/x", {"metadata": {"name": "x"}})).revision == 8
    await store.close()
    with closing(sqlite3.connect(db)) as conn, conn:  # the update superseded the migrated state row
        assert [r for (r,) in conn.execute("SELECT revision FROM log ORDER BY revision")] == [6, 7, 8]


async def test_compaction_of_everything_never_reuses_a_revision(db: Path, open_store: Opener) -> None:
    store = await open_store()
    await store.create("/k", {})
    deleted = await store.delete("/k")
    await store.compact(0)
    await store.create("/other", {})  # triggers the log trim of every older revision
    await store.delete("/other")
    last = store.revision
    await store.compact(0)
    await store.close()  # close drains; the trim may still be pending: restart must cope

    store = await open_store()
    assert store.revision == last > deleted.revision
    assert (await store.create("/k", {})).revision == last + 1
    await store.close()


async def test_automatic_compaction_keeps_history_bounded(db: Path, open_store: Opener) -> None:
    store = await open_store(history=10)
    for i in range(11):  # 100 keys created, then each updated ten times
        write = store.create if i == 0 else store.update
        await asyncio.gather(*(write(f"/k{j}", {"i": i}) for j in range(100)))
    assert store.oldest_revision == 1100 - 10  # the watch ring holds `history` revisions
    await store.close()
    with closing(sqlite3.connect(db)) as conn, conn:  # and the change log is trimmed, in chunks
        assert conn.execute("SELECT MIN(revision), MAX(revision) FROM log").fetchone() == (1001, 1100)
    assert store.stats["compactions"] >= 2  # 1,090 revisions, 1,000 per chunk


async def test_wal_is_truncated_once_idle(db: Path, monkeypatch: pytest.MonkeyPatch, open_store: Opener) -> None:
    from apiserver.storage import sqlite as driver

    monkeypatch.setattr(driver, "IDLE_CHECKPOINT_DELAY", 0.0)
    store = await open_store()
    await asyncio.gather(*(store.create(f"/k{i}", {"data": "x" * 1000}) for i in range(100)))
    async with asyncio.timeout(10):  # hang guard: the writer checkpoints as soon as it is idle
        while store.stats["checkpoints"] == 0 or wal_size(db) > 0:
            await asyncio.sleep(0.01)
    assert (await store.get("/k99")) is not None
    await store.close()


async def test_restart_keeps_state_revision_and_watch_backlog(db: Path, open_store: Opener) -> None:
    store = await open_store()
    a = await store.create(PODS + "ns/a", pod("a", "ns"))
    await store.create(PODS + "ns/b", pod("b", "ns"))
    a2 = await store.update(PODS + "ns/a", pod("a", "ns", spec={"v": 2}))
    deleted = await store.delete(PODS + "ns/b")
    before = await take(store.watch("", 0), 4)
    state = await store.list("")
    await store.close()

    store = await open_store()
    assert store.revision == deleted.revision
    after_list = await store.list("")
    assert [(kv.key, kv.raw, kv.revision, kv.create_revision) for kv in after_list.items] == [
        (kv.key, kv.raw, kv.revision, kv.create_revision) for kv in state.items
    ]
    after = await take(store.watch("", 0), 4)
    assert after == before
    assert after[2].prev == a and after[2].kv == a2
    assert after[3].kv == deleted and after[3].prev is not None and after[3].prev.revision == 2
    assert (await store.create(PODS + "ns/c", pod("c", "ns"))).revision == deleted.revision + 1
    await store.close()


async def test_concurrent_writes_are_batched(store: SQLiteStore) -> None:
    before = store.stats["transactions"]
    results = await asyncio.gather(*(store.create(f"/k/{i}", {"i": i}) for i in range(200)))
    assert sorted(kv.revision for kv in results) == list(range(1, 201))
    assert store.stats["transactions"] - before < 20
    assert store.stats["max_batch"] > 1


async def test_batch_ops_see_earlier_ops_and_fail_alone(store: SQLiteStore) -> None:
    before = store.stats["transactions"]
    results = await asyncio.gather(
        store.create("/a", {"v": 1}),
        store.update("/a", {"v": 2}, expected_revision=1),
        store.create("/a", {"v": 3}),
        store.update("/a", {"v": 4}, expected_revision=1),
        store.delete("/a", expected_revision=2),
        store.create("/a", {"v": 5}),
        return_exceptions=True,
    )
    assert store.stats["transactions"] - before == 1
    assert [r.revision if not isinstance(r, Exception) else type(r) for r in results] == [
        1, 2, KeyExistsError, ConflictError, 3, 4,
    ]
    current = await store.get("/a")
    assert current is not None and current.obj == {"v": 5, "metadata": {"resourceVersion": "4"}}
    assert current.create_revision == 4


async def test_failed_transaction_fails_the_batch_and_leaves_memory(db: Path, open_store: Opener) -> None:
    store = await open_store()
    await store.create("/ok/0", {})
    await store.close()
    with closing(sqlite3.connect(db)) as conn, conn:  # a real SQLite failure for one key
        conn.execute(
            "CREATE TRIGGER fail_bad BEFORE INSERT ON log WHEN NEW.key = '/bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    store = await open_store()
    w = store.watch("", store.revision)
    results = await asyncio.gather(
        store.create("/ok/1", {}), store.create("/bad", {}), store.delete("/ok/0"), return_exceptions=True
    )
    assert all(isinstance(r, StorageError) for r in results)
    assert store.revision == 1
    assert await store.get("/ok/1") is None and await store.get("/ok/0") is not None
    ok = await store.create("/ok/1", {})
    assert ok.revision == 2  # no revision was burnt
    assert [e.revision for e in await take(w, 1)] == [2]
    assert store.stats["failed"] == 3
    await store.close()


async def test_batches_in_flight_build_on_each_other(db: Path, open_store: Opener) -> None:
    """The writer plans a batch on top of the one still committing (1,000 ops per batch):
    an update in the second batch meets the create of the first."""
    store = await open_store()
    creates = [store.create(f"/k/{i}", {}) for i in range(1000)]
    results = await asyncio.gather(*creates, store.update("/k/0", {"v": 1}, expected_revision=1))
    assert [r.revision for r in results] == list(range(1, 1002))
    assert store.stats["batches"] >= 2
    await store.close()
    store = await open_store()
    k0 = await store.get("/k/0")
    assert k0 is not None and (k0.revision, k0.create_revision, k0.obj["v"]) == (1001, 1, 1)


async def test_a_batch_queued_behind_a_failed_one_fails_too(db: Path, open_store: Opener) -> None:
    store = await open_store()
    await store.create("/ok/0", {})
    await store.close()
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "CREATE TRIGGER fail_bad BEFORE INSERT ON log WHEN NEW.key = '/bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    store = await open_store()
    # the first batch (1,000 ops) fails on /bad; the second was planned on top of it
    keys = [f"/k/{i}" for i in range(999)] + ["/bad"] + [f"/after/{i}" for i in range(10)]
    results = await asyncio.gather(*(store.create(k, {}) for k in keys), return_exceptions=True)
    assert all(isinstance(r, StorageError) for r in results)
    assert store.revision == 1 and store.stats["failed"] == 1010
    assert await store.get("/after/0") is None
    assert (await store.create("/after/0", {})).revision == 2  # no revision was burnt
    await store.close()
    store = await open_store()
    assert store.revision == 2
    assert [kv.key for kv in (await store.list("/")).items] == ["/after/0", "/ok/0"]


async def test_large_object_round_trips(db: Path, open_store: Opener) -> None:
    blob = "x" * (3 << 19)  # 1.5 MiB
    store = await open_store()
    kv = await store.create("/registry/core/configmaps/ns/big", {"data": {"blob": blob}})
    await store.update("/registry/core/configmaps/ns/big", {"data": {"blob": blob[:-1] + "y"}})
    await store.close()
    store = await open_store()
    got = await store.get("/registry/core/configmaps/ns/big")
    assert got is not None and got.obj["data"]["blob"] == blob[:-1] + "y"
    events = await take(store.watch("", 0), 2)
    assert events[0].kv.raw == kv.raw and events[1].prev == kv
    await store.close()


async def test_close_drains_writes_and_ends_watches(db: Path, open_store: Opener) -> None:
    store = await open_store()
    w = store.watch("", 0)
    writes = [asyncio.create_task(store.create(f"/k{i}", {})) for i in range(50)]
    await asyncio.sleep(0)  # enqueued, not yet committed
    await store.close()
    assert all(t.done() and not t.exception() for t in writes)
    assert [e async for e in w] == []  # iteration simply ends
    with pytest.raises(StorageError):
        await store.create("/late", {})
    with pytest.raises(StorageError):
        store.watch("", 0)
    assert wal_size(db) == 0  # checkpointed and truncated at close
    store = await open_store()
    assert await store.count("/k") == 50
    await store.close()


async def test_second_server_on_same_file_is_refused(store: SQLiteStore, db: Path) -> None:
    await store.create("/k", {})
    other = SQLiteStore(db, busy_timeout=0.1)
    # A second process is what this guards against; a second connection behaves alike.
    other_task = asyncio.create_task(other.start())
    with pytest.raises(StorageError):
        await other_task


async def test_slow_watcher_does_not_hold_back_others(db: Path, open_store: Opener) -> None:
    store = await open_store(history=50, watch_queue=5)
    slow = store.watch("", 0)
    fast = store.watch("", 0)
    first = asyncio.create_task(take(slow, 1))
    await asyncio.sleep(0)
    await store.create("/k0", {})
    assert [e.revision for e in await first] == [1]
    received = asyncio.create_task(take(fast, 30))
    for i in range(1, 30):
        await store.create(f"/k{i}", {})
    assert [e.revision for e in await received] == list(range(1, 31))
    assert store.stats["watch_overflows"] == 1
    assert [e.revision for e in await take(slow, 29)] == list(range(2, 31))  # caught up via the ring
    for i in range(30, 100):
        await asyncio.gather(store.create(f"/k{i}", {}))
    with pytest.raises(CompactedError):  # fell behind the whole ring: the API server sends 410
        await take(slow, 1)
    fast.close()
    await store.close()


async def test_a_dead_writer_fails_writes_and_keeps_reads(db: Path, open_store: Opener) -> None:
    """If the SQLite writer process is killed, writes fail with a StorageError (the API
    server answers 500) instead of waiting forever, and reads go on from memory."""
    store = await open_store()
    kept = await store.create("/k/0", {"v": 0})
    assert store.failure() is None
    [writer] = sqlite_writers(os.getpid())
    os.kill(writer, signal.SIGKILL)
    with pytest.raises(StorageError, match="writer process"):
        async with asyncio.timeout(30):  # hang guard
            await store.create("/k/1", {})
    assert "writer process" in (store.failure() or "")  # the API server's health checks say so
    with pytest.raises(StorageError):
        await store.update("/k/0", {"v": 1})
    assert await store.get("/k/0") == kept and await store.get("/k/1") is None
    assert store.revision == kept.revision
    await store.close()
    store = await open_store()  # nothing stored was lost
    assert await store.get("/k/0") == kept and await store.get("/k/1") is None


CRASH_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from apiserver.storage.sqlite import SQLiteStore

    async def main(path):
        store = SQLiteStore(path)
        await store.start()
        out = sys.stdout

        async def worker(i):
            counter = f"/registry/counters/w{i}"
            rev = (await store.create(counter, {"n": 0})).revision
            for j in range(1_000_000):
                kv = await store.create(f"/registry/items/w{i}/{j}", {"value": f"{i}-{j}" * 20})
                out.write(f"C /registry/items/w{i}/{j} {kv.revision}\\n")
                rev = (await store.update(counter, {"n": j + 1}, expected_revision=rev)).revision
                out.write(f"U {counter} {j + 1}\\n")
                out.flush()

        await asyncio.gather(*(worker(i) for i in range(32)))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_kill_9_keeps_every_acknowledged_write(db: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_CHILD, str(db)], stdout=subprocess.PIPE, env=env, text=True
    )
    acked: list[str] = []
    watchdog = threading.Timer(120, child.kill)  # hang guard: a stuck child fails the test
    watchdog.start()
    writers: list[int] = []
    try:
        assert child.stdout is not None
        while len(acked) < 4000:
            line = child.stdout.readline()
            assert line, "the writer process stopped early"
            acked.append(line)
        writers = sqlite_writers(child.pid)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        watchdog.cancel()
    acked.extend(rest.splitlines(keepends=True))
    acked = [line for line in acked if line.endswith("\n")]  # a torn last line is not an ack
    # The store's SQLite writer process dies with the server: nothing is left holding the file.
    assert len(writers) == 1
    for _ in range(1000):  # hang guard: the kernel kills it at once (PR_SET_PDEATHSIG)
        if not Path(f"/proc/{writers[0]}").exists():
            break
        threading.Event().wait(0.01)
    assert not Path(f"/proc/{writers[0]}").exists(), "the SQLite writer outlived the server"

    asyncio.run(_check_after_crash(db, acked))


async def _check_after_crash(db: Path, acked: list[str]) -> None:
    store = SQLiteStore(db)
    await store.start()
    try:
        await _check_store_after_crash(store, acked)
    finally:
        await store.close()


async def _check_store_after_crash(store: SQLiteStore, acked: list[str]) -> None:
    counters: dict[str, int] = {}
    max_rev = 0
    for line in acked:
        kind, key, value = line.split()
        if kind == "C":
            kv = await store.get(key)
            assert kv is not None, f"acknowledged {key} is lost"
            i, j = key.split("/")[-2:]
            assert kv.obj["value"] == f"{i[1:]}-{j}" * 20
            assert kv.revision == int(value)
            max_rev = max(max_rev, int(value))
        else:
            counters[key] = max(counters.get(key, 0), int(value))
    for key, n in counters.items():
        kv = await store.get(key)
        assert kv is not None and kv.obj["n"] >= n
    assert store.revision >= max_rev

    # Nothing half-written: replaying the whole change log gives exactly the current state.
    replay: dict[str, bytes] = {}
    events = await take(store.watch("", 0), store.revision)
    assert [e.revision for e in events] == list(range(1, store.revision + 1))
    for e in events:
        if e.type == "DELETED":
            replay.pop(e.kv.key)
        else:
            replay[e.kv.key] = e.kv.raw
    listed = await store.list("")
    assert {kv.key: kv.raw for kv in listed.items} == replay
    assert all(rv(kv.obj) == kv.revision for kv in listed.items)


async def test_random_concurrent_writes_replay_to_the_listed_state(db: Path, open_store: Opener) -> None:
    """Watchers on several prefixes, started at various revisions, replay to exactly the
    state the store lists, across a restart."""
    import random

    rnd = random.Random(7)
    store = await open_store(history=5000)
    prefixes = ["/registry/a/", "/registry/b/", "/registry/"]
    watches = [(p, store.watch(p, 0)) for p in prefixes]

    async def client(c: int) -> None:
        for _ in range(60):
            key = f"/registry/{rnd.choice('ab')}/k{rnd.randrange(20)}"
            current = await store.get(key)
            try:
                if current is None:
                    await store.create(key, {"c": c})
                elif rnd.random() < 0.3:
                    await store.delete(key, expected_revision=current.revision)
                else:
                    await store.update(key, {"c": c}, expected_revision=current.revision)
            except (KeyExistsError, KeyNotFoundError, ConflictError):
                pass  # lost a race with another client: what optimistic concurrency is for

    await asyncio.gather(*(client(c) for c in range(16)))
    assert store.stats["writes"] > 100
    await store.create("/registry/a/end", {})
    await store.create("/registry/b/end", {})
    for prefix, w in watches:
        await check_replay(store, prefix, w)
    await store.close()
    store = await open_store(history=5000)
    await check_replay(store, "/registry/", store.watch("/registry/", 0))


async def check_replay(store: SQLiteStore, prefix: str, w) -> None:
    """Applying every event from revision 0 gives exactly the listed state, and each event's
    prev is the state it replaced. The newest write under each prefix is its "end" key."""
    last = max(kv.revision for kv in (await store.list(prefix)).items if kv.key.endswith("/end"))
    replay: dict[str, bytes] = {}
    async with asyncio.timeout(10):
        async for e in w:
            if e.type == "DELETED":
                assert replay.pop(e.kv.key) == e.prev.raw  # type: ignore[union-attr]
            else:
                assert replay.get(e.kv.key) == (e.prev.raw if e.prev else None)
                replay[e.kv.key] = e.kv.raw
            if e.revision == last:
                break
    listed = await store.list(prefix)
    assert replay == {kv.key: kv.raw for kv in listed.items}
    w.close()
