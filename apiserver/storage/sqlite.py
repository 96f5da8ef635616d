"""The default Store: SQLite, with group commit in a writer process and reads from memory.

Why it exists: one file on one machine gives mizzen Kubernetes' storage semantics (one global
revision, optimistic concurrency, resumable watches) without running etcd.

How it keeps its promises:
- Durable acknowledgements: WAL journal with `synchronous=FULL`, so a commit returns only once
  the WAL is fsynced; a write's coroutine returns only after its transaction committed.
- One table holds everything: the change log (`log`, a row per revision). A key's state is
  its newest row, as in etcd's MVCC keyspace, so each write is one append (a first version
  also kept a `kv` table of states: every value written twice, and a B-tree of keys updated
  at random places, which cost the writer ~40 % more per create; it is migrated at start).
- Throughput: one writer owns the connection (`_pump`, run by the writer task and by each
  batch's landing). Concurrent writes only enqueue; the writer takes everything pending
  (bounded by count and bytes), plans it in memory (`_batch.plan_batch`: preconditions in
  order, consecutive revisions, one encoding per object) and commits it in one transaction:
  one fsync for the whole batch. Up to MAX_IN_FLIGHT batches are queued at the writer
  process, each planned on top of the one before.
- Reads: the whole current state is loaded at start and kept in memory (`_state.SortedState`);
  get, list and count never touch SQLite and never wait for the writer. Memory changes only
  after a commit, so a read never sees an uncommitted write.
- Watches: `_watchcache.WatchCache` holds the newest `history` revisions (refilled from the
  change log at start) and fans each event out to every watcher.
- Bounded disk: the writer deletes change-log rows older than the retained history, except
  the rows that are a key's state, in small chunks (one chunk between two write batches, so
  neither starves the other); a row kept so is deleted by the write that supersedes it. It
  runs a PASSIVE WAL checkpoint every `compact_interval` seconds and a TRUNCATE checkpoint
  once idle; the `meta` table remembers the highest compacted revision so a revision is never reused.
- One server per file: SQLite's exclusive lock (`locking_mode=EXCLUSIVE`), held from start
  to close; a second server on the same data dir fails at start instead of serving a stale
  in-memory copy.

Two connections, one after the other:
- at start, aiosqlite's: it takes the lock, creates or migrates the schema and loads the
  whole log (through `Connection._execute`, one call on its thread for each; aiosqlite has
  no public equivalent, checked at start), then closes, which checkpoints the WAL (a server
  that took the lock in between makes this one's start fail, as the writer cannot lock);
- then the writer process's (`_writer`), for every transaction until close. In this process
  a transaction's thread and the event loop shared the interpreter lock, and each of the
  dozen times a batch took it back cost a wake-up and a preemption of the loop: ~28 us of
  CPU per create here. In its own process the same batch costs the loop a pipe write and a
  pipe read, done by the loop itself (`_Writer`), and creates ran ~7 % faster. If it
  dies, every write fails with a StorageError (reads go on from memory); it exits when this
  process closes its pipe or dies.

What it must never do: acknowledge a write before COMMIT returned, change memory when a
transaction failed, let anything but the writer use the connection, or block the loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from apiserver.storage import _writer
from apiserver.storage._batch import TYPE_CODES, TYPE_NAMES, Op, Plan, plan_batch
from apiserver.storage._state import SortedState
from apiserver.storage._watchcache import CacheWatch, Entry, WatchCache
from apiserver.storage.base import Event, KeyValue, ListResult, StorageError

log = logging.getLogger(__name__)

# The change log is the store, as etcd's MVCC keyspace is: a row per revision (an object as
# written, or as it was when deleted). The current state is each key's newest row; compaction
# removes rows that no watch may ask for any more, except those that are still a key's state.
SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    type INTEGER NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    prev_value BLOB
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
DELETED = TYPE_CODES["DELETED"]
FORMAT = 2  # 1: the state also in a `kv` table (every value written twice); migrated at start

MAX_BATCH = 1000  # ops per transaction
MAX_IN_FLIGHT = 2  # batches handed to the writer process before the first is answered
MAX_BATCH_BYTES = 32 << 20  # encoded bytes per transaction (objects go up to 1.5 MiB)
COMPACT_CHUNK = 1000  # change-log rows deleted per compaction transaction
IDLE_CHECKPOINT_DELAY = 1.0  # seconds without writes before a TRUNCATE checkpoint
MIN_TICK = 0.1  # seconds: the shortest maintenance period, whatever compact_interval says
WATCH_QUEUE = 10_000  # live events buffered per watcher before it falls back to the ring

WRITER_EXIT_TIMEOUT = 10.0  # seconds the writer process has to exit after close (then it is killed)


class _Broken(StorageError):
    """A batch not committed because one before it failed."""


@dataclass(slots=True)
class _Flight:
    """A batch handed to the writer process: its plan, its ops, and once its transaction
    ended, whether it failed."""

    plan: Plan
    ops: list[Op]
    done: bool = False
    error: BaseException | None = None


class _Writer:
    """The server's end of the writer process (`_writer`): requests are written to one pipe,
    replies read from another by the loop itself (one read per readiness, the replies handed
    to their requests' callbacks in order: no task, no extra loop iteration). When the
    process ends, every request still waiting, and every later one, gets an error."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: Path, process: subprocess.Popen[bytes],
                 requests: int, replies: int) -> None:
        self.loop = loop
        self.path = path
        self.process = process
        self.requests = requests  # our end of the requests pipe (non-blocking)
        self.replies = replies  # our end of the replies pipe (non-blocking)
        self.waiting: deque[Callable[[tuple[Any, ...]], None]] = deque()
        self.inbox = bytearray()
        self.outbox = bytearray()  # what the requests pipe had no room for yet
        self.gone: str | None = None  # why the process is gone (None: running)
        loop.add_reader(replies, self._readable)

    @classmethod
    async def spawn(cls, loop: asyncio.AbstractEventLoop, path: Path, busy_timeout: float) -> _Writer:
        """Start the process and wait until it holds SQLite's exclusive lock on path. (It is
        started from the loop's thread: the kernel kills it when that thread ends.)"""
        theirs_in, ours_out = os.pipe()
        ours_in, theirs_out = os.pipe()
        try:
            # On the loop's thread, not in an executor: the death signal is tied to the thread.
            process = subprocess.Popen(  # noqa: ASYNC220 (a fork and exec: ~20 ms, once at start)
                [sys.executable, "-I", "-S", _writer.__file__, str(path), str(int(busy_timeout * 1000)),
                 str(os.getpid()), str(theirs_in), str(theirs_out)],
                pass_fds=(theirs_in, theirs_out), stdin=subprocess.DEVNULL)
        except BaseException:
            os.close(ours_out)
            os.close(ours_in)
            raise
        finally:
            os.close(theirs_in)
            os.close(theirs_out)
        os.set_blocking(ours_out, False)
        os.set_blocking(ours_in, False)
        writer = cls(loop, path, process, ours_out, ours_in)
        ready = loop.create_future()
        writer.waiting.append(_resolve(ready))
        reply = await ready
        if reply[0] != "ok":
            await writer.stop()
            if reply[1] == "gone":
                raise StorageError(f"{path}: the SQLite writer process did not start ({reply[2]})")
            raise StorageError(f"{path}: cannot lock the database ({reply[2]}); is another server using it?")
        return writer

    def send(self, message: tuple[Any, ...], on_reply: Callable[[tuple[Any, ...]], None]) -> None:
        """Queue a request; on_reply gets its reply (never before send returns)."""
        if self.gone is not None:
            self.loop.call_soon(on_reply, self.gone_reply())
            return
        self.waiting.append(on_reply)
        data = _writer.frame(message)
        if self.outbox:
            self.outbox += data
            return
        try:
            written = os.write(self.requests, data)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            self._gone(f"cannot be written to ({exc})")
            return
        if written < len(data):
            self.outbox += memoryview(data)[written:]
            self.loop.add_writer(self.requests, self._writable)

    async def call(self, *message: Any) -> Any:
        """A request's result (StorageError if it failed)."""
        done: asyncio.Future[tuple[Any, ...]] = self.loop.create_future()
        self.send(message, _resolve(done))
        reply = await done
        error = _reply_error(reply)
        if error is not None:
            raise error
        return reply[1]

    def _writable(self) -> None:
        try:
            written = os.write(self.requests, self.outbox)
        except BlockingIOError:
            return
        except OSError as exc:
            self._gone(f"cannot be written to ({exc})")
            return
        del self.outbox[:written]
        if not self.outbox:
            self.loop.remove_writer(self.requests)

    def _readable(self) -> None:
        try:
            data = os.read(self.replies, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            code = self.process.poll()
            self._gone("exited" if code is None else f"exited with status {code}")
            return
        self.inbox += data
        for reply in _writer.unframe(self.inbox):
            self.waiting.popleft()(reply)

    def _gone(self, why: str) -> None:
        if self.gone is None:
            self.gone = why
            if self.replies >= 0:
                self.loop.remove_reader(self.replies)
            if self.outbox:
                self.outbox.clear()
                self.loop.remove_writer(self.requests)
        waiting, self.waiting = self.waiting, deque()
        for on_reply in waiting:
            on_reply(self.gone_reply())

    @property
    def failure(self) -> str | None:
        """Why the process is gone (None: it is running)."""
        return None if self.gone is None else f"the SQLite writer process of {self.path} {self.gone}"

    def gone_reply(self) -> tuple[str, str, str]:
        return ("error", "gone", self.failure or "")

    async def stop(self) -> None:
        """End the process's input and wait for it to exit, killing it if it does not in
        WRITER_EXIT_TIMEOUT seconds."""
        self._gone("was stopped")
        os.close(self.requests)
        deadline = time.monotonic() + WRITER_EXIT_TIMEOUT
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                log.error("%s: the SQLite writer process did not exit; killing it", self.path)
                self.process.kill()
                deadline = float("inf")
            await asyncio.sleep(0.005)
        os.close(self.replies)
        self.replies = -1


def _resolve(future: asyncio.Future[tuple[Any, ...]]) -> Callable[[tuple[Any, ...]], None]:
    def on_reply(reply: tuple[Any, ...]) -> None:
        if not future.done():
            future.set_result(reply)
    return on_reply


def _reply_error(reply: tuple[Any, ...]) -> StorageError | None:
    if reply[0] == "ok":
        return None
    if reply[1] == "broken":
        return _Broken(reply[2])
    return StorageError(reply[2] if reply[1] == "gone" else f"{reply[1]}: {reply[2]}")


def _fail(ops: list[Op], error: Exception) -> None:
    for op in ops:
        if op.future is not None and not op.future.done():
            op.future.set_exception(error)


class SQLiteStore:
    """The Store protocol on one SQLite file.

    `history`: revisions kept in the change log and the watch ring (a watch may resume from
    any of them). `compact_interval`: seconds between automatic compactions and PASSIVE WAL
    checkpoints. `watch_queue`: live events buffered per watcher (a watcher that falls further
    behind reads from the ring instead; beyond the ring its iteration raises CompactedError).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        history: int = 100_000,
        compact_interval: float = 60.0,
        watch_queue: int = WATCH_QUEUE,
        max_batch: int = MAX_BATCH,
        busy_timeout: float = 5.0,
    ) -> None:
        if history < 1:
            raise ValueError("history must be >= 1")
        self.path = Path(path)
        self.history = history
        self.compact_interval = compact_interval
        self.max_batch = max_batch
        self.busy_timeout = busy_timeout
        self._state = SortedState()
        self._cache = WatchCache(history, watch_queue, self._decode)
        self._pending: deque[Op] = deque()
        self._wake = asyncio.Event()
        self._flights: deque[_Flight] = deque()  # handed to the writer process, oldest first
        self._proc: _Writer | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop
        self._started = False
        self._closing = False
        self._closed = False
        self._revision = 0  # committed (what readers see)
        self._broken = False  # a commit failed: the writer refuses those planned on top of it
        self._log_oldest = 1  # no change-log row is older than this
        self._compact_target = 0  # change-log rows <= this are to be deleted
        self._wal_dirty = False
        self._last_write = 0.0
        self._next_tick = 0.0
        self._counters: dict[str, int] = dict.fromkeys(
            (
                "transactions", "batches", "writes", "rejected", "failed", "max_batch",
                "compactions", "compacted_rows", "checkpoints",
            ),
            0,
        )

    # -- Store protocol: state ------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def oldest_revision(self) -> int:
        return self._cache.compacted

    @property
    def stats(self) -> dict[str, int]:
        """Counters: transactions (write transactions committed), batches, writes (ops
        committed), rejected (failed preconditions), failed (ops lost to a failed
        transaction), max_batch, compactions, compacted_rows, checkpoints, watchers (open),
        watch_overflows (watchers moved off live delivery), keys, revision, oldest_revision,
        pending."""
        s = dict(self._counters)
        s["watchers"] = self._cache.watcher_count
        s["watch_overflows"] = self._cache.overflows
        s["keys"] = len(self._state)
        s["revision"] = self._revision
        s["oldest_revision"] = self._cache.compacted
        s["pending"] = len(self._pending)
        return s

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        connecting = aiosqlite.connect(str(self.path), isolation_level=None, timeout=self.busy_timeout)
        thread = getattr(connecting, "_thread", None)
        if isinstance(thread, threading.Thread) and not thread.is_alive():
            # aiosqlite's thread is not a daemon: a server stopped while it loads would hang
            # at exit. Ending it abruptly is as safe as kill -9 (WAL, synchronous=FULL).
            thread.daemon = True
        db = await connecting
        try:
            if not callable(getattr(db, "_execute", None)):
                raise StorageError(f"aiosqlite {aiosqlite.__version__} lacks Connection._execute")
            await self._lock(db)
            await self._load(db)
        finally:
            await db.close()  # (which checkpoints the WAL) the lock passes to the writer process
        self._loop = asyncio.get_running_loop()  # (asking it again per write costs a getpid() syscall)
        self._proc = await _Writer.spawn(self._loop, self.path, self.busy_timeout)
        self._next_tick = time.monotonic() + self.compact_interval
        self._writer = self._loop.create_task(self._run_writer(), name=f"sqlite-writer {self.path}")

    async def _lock(self, db: aiosqlite.Connection) -> None:
        """WAL, durable commits, and SQLite's exclusive lock taken now, so that a second
        server on this file fails here rather than serve a stale copy."""
        try:
            await db._execute(_open_sync, db._conn, int(self.busy_timeout * 1000))
        except sqlite3.OperationalError as exc:
            raise StorageError(f"{self.path}: cannot lock the database ({exc}); is another server using it?") from exc

    async def _load(self, db: aiosqlite.Connection) -> None:
        """The state is each key's newest row (none if that is a deletion); the watch ring is
        the newest `history` revisions above the compacted one. The revision is the highest
        ever used: the newest row, or the compacted revision if compaction removed it."""
        compacted, rows = await db._execute(_load_sync, db._conn)
        revision = max(rows[-1][0] if rows else 0, compacted)
        newest: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            if row[2] == DELETED:
                newest.pop(row[1], None)
            else:
                newest[row[1]] = row
        loads = orjson.loads
        # Decoding creates millions of objects; the cyclic GC would rescan the growing heap
        # again and again (10x the decoding time), and none of them can form a cycle.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._state = SortedState(KeyValue(k, loads(v), v, r, c) for r, k, _, v, c, _, _ in newest.values())
        finally:
            if gc_was_enabled:
                gc.enable()
        del newest
        # Share bytes between the ring and the state, and between an entry and the next
        # entry of the same key (its prev), as they are shared while running.
        current = self._state.get
        last: dict[str, Entry] = {}
        entries = []
        first = max(revision - self.history, compacted)
        for r, k, t, v, c, p, pv in rows:
            if r <= first:
                continue
            kv = current(k)
            if kv is not None and kv.revision == r:
                v = kv.raw
            before = last.get(k)
            if pv is not None and before is not None and before.revision == p:
                pv = before.raw
            entry = Entry(r, TYPE_NAMES[t], k, v, c, p, pv)
            last[k] = entry
            entries.append(entry)
        del rows, last
        # Keep only the newest consecutive run (a gap would mean a damaged log).
        start = len(entries)
        expected = revision
        while start > 0 and entries[start - 1].revision == expected:
            start -= 1
            expected -= 1
        if start:
            log.warning("%s: change log has a gap below revision %d; older history ignored", self.path, expected + 1)
            entries = entries[start:]
        self._revision = revision
        self._cache.reset(revision, max(compacted, expected), entries)
        self._log_oldest = compacted + 1
        self._compact_target = compacted
        log.info(
            "%s: %d keys, revision %d, watch history from %d",
            self.path, len(self._state), revision, self._cache.compacted,
        )

    async def close(self) -> None:
        """Drain pending writes, stop the writer, end every watch, checkpoint and close."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
        self._cache.close()
        self._closed = True
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                await proc.call("close")  # a TRUNCATE checkpoint, then the connection closes
            except StorageError as exc:
                log.warning("%s: closing the database failed: %s", self.path, exc)
            await proc.stop()

    def failure(self) -> str | None:
        if self._closed:
            return "the store is closed"
        return self._proc.failure if self._proc is not None else None

    # -- Store protocol: reads (memory only) --------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        return self._state.get(key)

    async def list(self, prefix: str, *, limit: int = 0, start_after: str = "", revision: int = 0) -> ListResult:
        if not revision or revision >= self._revision:
            items, remaining = self._state.list(prefix, limit, start_after)
            return ListResult(items, self._revision, remaining)
        # A snapshot: the current state with every key changed since put back as it was.
        then = self._cache.values_at(revision, prefix)
        current, _ = self._state.list(prefix, 0, start_after)
        merged = {kv.key: kv for kv in current if kv.key not in then}
        merged.update((k, kv) for k, kv in then.items() if kv is not None and k > start_after)
        keys = sorted(merged)
        if limit > 0 and len(keys) > limit:
            return ListResult([merged[k] for k in keys[:limit]], revision, len(keys) - limit)
        return ListResult([merged[k] for k in keys], revision, 0)

    async def count(self, prefix: str) -> int:
        return self._state.count(prefix)

    # -- Store protocol: writes (through the writer) -------------------------------------

    async def create(self, key: str, obj: dict[str, Any]) -> KeyValue:
        return await self._submit(Op("create", key, obj))

    async def update(self, key: str, obj: dict[str, Any], expected_revision: int | None = None) -> KeyValue:
        return await self._submit(Op("update", key, obj, expected_revision))

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        return await self._submit(Op("delete", key, None, expected_revision))

    async def _submit(self, op: Op) -> KeyValue:
        if self._closing or self._writer is None:
            raise StorageError("store is closed" if self._closing else "store is not started")
        op.future = self._loop.create_future()
        self._pending.append(op)
        self._wake.set()
        # If the caller is cancelled before the writer took the op, the op is skipped; once
        # taken, it commits anyway (as with etcd, a cancelled request may still have written).
        return await op.future

    # -- Store protocol: watch and compaction --------------------------------------------

    def watch(self, prefix: str, from_revision: int) -> CacheWatch:
        """Events with revision > from_revision under prefix: the backlog from the ring, then
        live. Raises CompactedError when from_revision < oldest_revision. Iteration raises
        CompactedError if the watcher later falls behind the retained history; it ends
        quietly after close() or store close."""
        return self._cache.watch(prefix, from_revision)

    async def compact(self, keep: int) -> int:
        """Drop history older than the newest `keep` revisions: at once for watches, in the
        background (chunks between write batches) for the change log."""
        oldest = self._cache.compact(self._revision - max(0, keep))
        if oldest > self._compact_target:
            self._compact_target = oldest
            self._wake.set()
        return oldest

    # -- the writer ---------------------------------------------------------------------

    def _decode(self, e: Entry) -> Event:
        """Rebuild a ring entry's Event (after a restart, or once it left the hot window)."""
        cur = self._state.get(e.key)
        if cur is not None and cur.revision == e.revision:
            kv = cur
        else:
            kv = KeyValue(e.key, orjson.loads(e.raw), e.raw, e.revision, e.create_revision)
        prev = None
        if e.prev_raw is not None:
            prev = KeyValue(e.key, orjson.loads(e.prev_raw), e.prev_raw, e.prev_revision, e.create_revision)
        return Event(e.type, kv, prev)

    async def _run_writer(self) -> None:
        """The writer's idle side: what the batches' own landings (`_committed`) leave to it
        (the first batch after a pause, maintenance, the idle checkpoint, the drain at close)."""
        flights = self._flights
        try:
            while True:
                self._wake.clear()  # set by a new write and by a commit that ends
                self._pump()
                if not flights and self._maintenance_due():  # maintenance uses the connection alone
                    await self._maintain(idle=False)
                    continue
                if flights:
                    await self._wake.wait()
                    continue
                if self._closing:
                    break
                # Idle: nothing to do until a write, unless the WAL has data to checkpoint
                # (at the next tick, and with TRUNCATE once idle long enough).
                timeout: float | None = None
                if self._wal_dirty:
                    timeout = min(self._next_tick, self._last_write + IDLE_CHECKPOINT_DELAY) - time.monotonic()
                if timeout is None or timeout > 0:
                    try:
                        async with asyncio.timeout(timeout):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
                if not self._pending:
                    await self._maintain(idle=True)
        finally:
            error = StorageError("store is closed")
            for flight in flights:  # (only if the writer itself was cancelled)
                _fail(flight.ops, error)
            flights.clear()
            _fail(list(self._pending), error)
            self._pending.clear()

    def _pump(self) -> None:
        """Land the batches that committed, in order, then hand the writer process the next
        ones, up to MAX_IN_FLIGHT: while one commits, the next is planned on top of it and
        queued behind it, so the writer goes from one transaction to the next. Nothing new is
        handed over while maintenance is due (it waits for the writer to be idle)."""
        flights = self._flights
        while True:
            while flights and flights[0].done:
                self._land(flights.popleft())
            if not flights and self._broken:  # what failed has been answered: start afresh
                self._broken = False
                if self._proc is not None:
                    self._proc.send(("reset",), _ignore)
            if not self._pending or len(flights) >= MAX_IN_FLIGHT or self._maintenance_due():
                return
            self._launch()

    def _launch(self) -> None:
        """Plan the next batch on top of the batches in flight and hand it to the writer."""
        ops: list[Op] = []
        pending, flights = self._pending, self._flights
        while pending and len(ops) < self.max_batch:
            op = pending.popleft()
            if op.future is not None and op.future.done():
                continue  # cancelled before it was taken
            ops.append(op)
        if not ops:
            return
        lookup = self._state.get
        if flights:
            planned = [f.plan.final for f in reversed(flights)]
            committed = lookup

            def lookup(key: str) -> KeyValue | None:
                for final in planned:
                    if key in final:
                        return final[key]
                return committed(key)
        try:
            # revisions follow the last batch handed to the writer, or the committed one
            after = flights[-1].plan.revision if flights else self._revision
            plan, taken = plan_batch(ops, lookup, after, MAX_BATCH_BYTES)
        except Exception as exc:  # a bug in planning must not leave callers waiting forever
            log.exception("%s: planning a batch of %d ops failed", self.path, len(ops))
            _fail(ops, StorageError(f"write failed: {exc}"))
            return
        if taken < len(ops):
            pending.extendleft(reversed(ops[taken:]))
        flight = _Flight(plan, ops[:taken])
        flights.append(flight)
        if plan.entries:
            self._hand_over(flight)
        else:  # preconditions only: answered in order with the batches before it
            flight.done = True

    def _hand_over(self, flight: _Flight) -> None:
        """Send the batch's transaction to the writer process, whose reply lands it
        (`_committed`). A key's row below the compacted revision was kept only as its state:
        the write that supersedes it (update or delete) removes it in the same transaction."""
        assert self._proc is not None
        oldest = self._log_oldest
        superseded = [(e.prev_revision,) for e in flight.plan.entries if 0 < e.prev_revision < oldest]
        self._proc.send(("tx", flight.plan.log_rows, superseded),
                        lambda reply: self._committed(flight, _reply_error(reply)))

    def _committed(self, flight: _Flight, error: BaseException | None) -> None:
        """The writer process ended a batch's transaction (batches end in the order they
        were handed over): land it, and hand over the next."""
        flight.done, flight.error = True, error
        if error is None:
            self._counters["transactions"] += 1
        self._pump()
        self._wake.set()  # the writer: maintenance, idle or close may be due now

    def _land(self, flight: _Flight) -> None:
        """A batch's commit ended: apply it to memory and answer its callers."""
        plan, ops, counters = flight.plan, flight.ops, self._counters
        exc = flight.error
        if exc is not None:
            self._broken = True
            if not isinstance(exc, _Broken):
                log.error("%s: write transaction of %d ops failed: %s", self.path, len(ops), exc)
            error = StorageError(f"write failed: {exc}")
            error.__cause__ = exc
            counters["failed"] += len(plan.entries)
            _fail(ops, error)
            return
        if plan.entries:
            state = self._state
            for key, kv in plan.final.items():
                if kv is None:
                    state.remove(key)
                else:
                    state.put(kv)
            self._revision = plan.revision
            cache = self._cache
            for entry in plan.entries:
                cache.append(entry)
            self._wal_dirty = True
            self._last_write = time.monotonic()
        taken = len(ops)
        counters["batches"] += 1
        counters["writes"] += len(plan.entries)
        counters["rejected"] += taken - len(plan.entries)
        if taken > counters["max_batch"]:
            counters["max_batch"] = taken
        for op, result in zip(ops, plan.results, strict=True):
            fut = op.future
            if fut is None or fut.done():
                continue
            if isinstance(result, KeyValue):
                fut.set_result(result)
            else:
                fut.set_exception(result)

    def _maintenance_due(self) -> bool:
        """Whether _maintain has work now: a compaction chunk or the periodic tick."""
        automatic = self._revision - self.history
        return (self._log_oldest <= self._compact_target
                or (automatic - self._log_oldest + 1 >= COMPACT_CHUNK and automatic > self._compact_target)
                or time.monotonic() >= self._next_tick)

    async def _maintain(self, idle: bool) -> None:
        """Between batches: one compaction chunk if due, the periodic tick, idle checkpoint.

        The change log is trimmed to `history` revisions as soon as a whole chunk is over
        it, and at every tick whatever is over (so a trickle of writes is trimmed too)."""
        now = time.monotonic()
        automatic = self._revision - self.history
        if automatic - self._log_oldest + 1 >= COMPACT_CHUNK and automatic > self._compact_target:
            self._compact_target = automatic
        if now >= self._next_tick:
            self._next_tick = now + max(self.compact_interval, MIN_TICK)
            if automatic > self._compact_target:
                self._compact_target = automatic
            await self._checkpoint("PASSIVE")
        if self._log_oldest <= self._compact_target:
            await self._compact_chunk()
        if idle and self._wal_dirty and now - self._last_write >= IDLE_CHECKPOINT_DELAY:
            await self._checkpoint("TRUNCATE")
            self._wal_dirty = False

    async def _compact_chunk(self) -> None:
        upto = min(self._log_oldest + COMPACT_CHUNK - 1, self._compact_target)
        try:
            # The state does not change meanwhile: only the landing of a batch changes it, and
            # no batch is handed over during maintenance.
            rows = await self._proc_call("rows", self._log_oldest, upto)
            doomed = [(r,) for r, k in rows if self._state_revision(k) != r]
            await self._proc_call("compact", doomed, upto)
            deleted = len(doomed)
        except StorageError as exc:
            log.warning("%s: compaction up to %d failed: %s", self.path, upto, exc)
            self._compact_target = self._log_oldest - 1  # retry at the next tick
            return
        self._log_oldest = upto + 1
        self._counters["compactions"] += 1
        self._counters["compacted_rows"] += max(0, deleted)
        self._wal_dirty = True

    def _state_revision(self, key: str) -> int:
        """The revision of key's current state (0: absent)."""
        kv = self._state.get(key)
        return kv.revision if kv is not None else 0

    async def _checkpoint(self, mode: str) -> None:
        try:
            await self._proc_call("checkpoint", mode)
        except StorageError as exc:
            log.warning("%s: %s checkpoint failed: %s", self.path, mode, exc)
            return
        self._counters["checkpoints"] += 1

    async def _proc_call(self, *message: Any) -> Any:
        if self._proc is None:
            raise StorageError("store is closed")
        return await self._proc.call(*message)


def _ignore(reply: tuple[Any, ...]) -> None:
    pass


def _open_sync(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Pragmas, schema (migrated), and a first write so that the exclusive lock is held
    until the connection closes."""
    _writer.configure(conn, busy_timeout_ms)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv'").fetchone():
            # Format 1: every object's state goes into the log (where compaction removed its
            # row; the row is the same where it did not), and the kv table goes.
            conn.execute("INSERT OR IGNORE INTO log SELECT mod_revision, key, CASE WHEN mod_revision = "
                         "create_revision THEN 0 ELSE 1 END, value, create_revision, 0, NULL FROM kv")
            conn.execute("DROP TABLE kv")
        conn.execute(_writer.SET_META, ("format", FORMAT))
        conn.execute("COMMIT")
    except BaseException:
        _writer.rollback(conn)
        raise


def _load_sync(conn: sqlite3.Connection) -> tuple[int, list[tuple[Any, ...]]]:
    """(the compacted revision, every change-log row in revision order)."""
    meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    rows = conn.execute(
        "SELECT revision, key, type, value, create_revision, prev_revision, prev_value FROM log ORDER BY revision"
    ).fetchall()
    return int(meta.get("compacted", 0)), rows
