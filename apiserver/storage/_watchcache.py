"""The watch cache: one ring of recent events shared by every watcher, and the fan-out.

Why it exists: Kubernetes clients resume a watch from the last resourceVersion they saw, so
the store must replay every event after any recent revision, then continue live, with no
gap or duplicate at the hand-over; and one write must reach a thousand watchers cheaply.

Design:
- Revisions are consecutive (every revision is exactly one event), so the ring is a fixed
  list indexed by `revision % capacity`: revision r is at `ring[r % capacity]` as long as
  r > `compacted`. An entry keeps the encoded bytes (shared with the stored KeyValue), not a
  decoded object, so a ring of 100k events costs about the size of their JSON. The newest
  `HOT` entries also keep their decoded Event, which live watchers share.
- A watcher is a cursor. It first reads the ring from `from_revision + 1`; when it has caught
  up with the newest revision it subscribes to live delivery (synchronously, in the same
  step, so no event can slip between the two). Live delivery appends the shared Event to the
  watcher's bounded deque and wakes it: one append per matching watcher, no copy, no
  encoding. Watchers are grouped by prefix, so an event costs one `startswith` per distinct
  prefix plus one append per matching watcher.
- A slow watcher never blocks the writer: when its deque reaches `max_queue` it is dropped
  from live delivery and goes back to reading the ring from its last delivered revision. If
  it falls so far behind that the ring has overwritten (or compaction dropped) the revision
  it needs, iteration raises CompactedError once and then stops: the API server answers that
  with a 410 Expired ERROR event and the client re-lists, as with Kubernetes.

What it must never do: await while delivering (the writer calls `append` synchronously), hold
a decoded object for every event, or deliver an event twice or out of order.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from typing import Literal

from apiserver.storage.base import CompactedError, Event, KeyValue, StorageError

HOT = 1024  # newest ring entries that keep their decoded Event

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


class Entry:
    """One revision in the ring: enough to rebuild its Event (see WatchCache.decode)."""

    __slots__ = ("revision", "type", "key", "raw", "create_revision", "prev_revision", "prev_raw", "event")

    def __init__(
        self,
        revision: int,
        type: EventType,
        key: str,
        raw: bytes,
        create_revision: int,
        prev_revision: int,
        prev_raw: bytes | None,
        event: Event | None = None,
    ) -> None:
        self.revision = revision
        self.type = type
        self.key = key
        self.raw = raw
        self.create_revision = create_revision
        self.prev_revision = prev_revision
        self.prev_raw = prev_raw
        self.event = event


class WatchCache:
    """The ring of the newest `capacity` revisions and the live watchers."""

    def __init__(self, capacity: int, max_queue: int, decode: Callable[[Entry], Event]) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.max_queue = max_queue
        self._decode = decode
        self._ring: list[Entry | None] = [None] * capacity
        self.revision = 0  # newest revision appended
        self.compacted = 0  # every revision <= compacted is gone; watches start from >= this
        self._by_prefix: dict[str, set[CacheWatch]] = {}
        self._all: weakref.WeakSet[CacheWatch] = weakref.WeakSet()
        self.overflows = 0
        self.closed = False

    # -- filling ----------------------------------------------------------------------------

    def reset(self, revision: int, compacted: int, entries: list[Entry]) -> None:
        """Load after a restart: `entries` are consecutive and end at `revision`."""
        self._ring = [None] * self.capacity
        for e in entries[-self.capacity :]:
            self._ring[e.revision % self.capacity] = e
        self.revision = revision
        first = entries[-self.capacity :][0].revision if entries else revision + 1
        self.compacted = max(compacted, first - 1, revision - self.capacity)

    def append(self, entry: Entry) -> None:
        """Add the next revision and deliver it to the live watchers. Never awaits."""
        rev = entry.revision
        cap = self.capacity
        self._ring[rev % cap] = entry
        self.revision = rev
        if rev - cap > self.compacted:
            self.compacted = rev - cap
        if HOT < cap:
            old = self._ring[(rev - HOT) % cap]
            if old is not None and old.revision == rev - HOT:
                old.event = None
        event = entry.event
        if event is None or not self._by_prefix:
            return
        key = entry.key
        dropped: list[CacheWatch] | None = None
        for prefix, watchers in self._by_prefix.items():
            if key.startswith(prefix):
                for w in watchers:
                    if not w._deliver(event):
                        dropped = dropped or []
                        dropped.append(w)
        if dropped:
            for w in dropped:
                self._unsubscribe(w)
                self.overflows += 1

    def compact(self, upto: int) -> int:
        """Drop every revision <= upto (never beyond the newest); returns `compacted`."""
        upto = min(upto, self.revision)
        if upto > self.compacted:
            for rev in range(max(self.compacted + 1, self.revision - self.capacity + 1), upto + 1):
                self._ring[rev % self.capacity] = None
            self.compacted = upto
        return self.compacted

    # -- reading ----------------------------------------------------------------------------

    def event_at(self, revision: int) -> Event:
        """The Event of a retained revision (compacted < revision <= self.revision)."""
        entry = self._ring[revision % self.capacity]
        assert entry is not None and entry.revision == revision
        event = entry.event
        if event is None:
            event = self._decode(entry)
            if revision > self.revision - HOT:
                entry.event = event
        return event

    def values_at(self, revision: int, prefix: str) -> dict[str, KeyValue | None]:
        """For each key under prefix changed after `revision`: its value at `revision` (None:
        absent then), from the retained history (compacted <= revision <= self.revision).
        Together with the current state this is a snapshot of the prefix at `revision`."""
        if revision < self.compacted:
            raise CompactedError(revision, self.compacted)
        out: dict[str, KeyValue | None] = {}
        ring, cap = self._ring, self.capacity
        for rev in range(revision + 1, self.revision + 1):
            entry = ring[rev % cap]
            if entry is None or not entry.key.startswith(prefix) or entry.key in out:
                continue
            out[entry.key] = self.event_at(rev).prev
        return out

    def watch(self, prefix: str, from_revision: int) -> CacheWatch:
        if self.closed:
            raise StorageError("store is closed")
        if from_revision < self.compacted:
            raise CompactedError(from_revision, self.compacted)
        w = CacheWatch(self, prefix, from_revision)
        self._all.add(w)
        return w

    @property
    def watcher_count(self) -> int:
        return len(self._all)

    def close(self) -> None:
        self.closed = True
        for w in list(self._all):
            w.close()
        self._by_prefix.clear()

    def _subscribe(self, w: CacheWatch) -> None:
        self._by_prefix.setdefault(w.prefix, set()).add(w)

    def _unsubscribe(self, w: CacheWatch) -> None:
        watchers = self._by_prefix.get(w.prefix)
        if watchers is not None:
            watchers.discard(w)
            if not watchers:
                del self._by_prefix[w.prefix]
        w._live = False
        w._queue.clear()
        w._next = w._delivered + 1
        w._wake()


class CacheWatch:
    """One open watch (the Store protocol's Watch). Iterate for events; close() to stop.

    Iteration raises CompactedError when the watcher needs a revision that is no longer
    retained (it started too far back, or fell more than the ring's capacity behind), then
    ends; it ends quietly after close() or when the store closes."""

    __slots__ = (
        "_cache", "prefix", "_next", "_delivered", "_queue", "_live", "_waiter", "_closed",
        "_error", "_interrupted", "__weakref__",
    )

    def __init__(self, cache: WatchCache, prefix: str, from_revision: int) -> None:
        self._cache = cache
        self.prefix = prefix
        self._next = from_revision + 1  # next revision to look at (ring) or accept (live)
        self._delivered = from_revision  # revision of the last event handed to the consumer
        self._queue: deque[Event] = deque()
        self._live = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._error: CompactedError | None = None
        self._interrupted = False

    def __aiter__(self) -> CacheWatch:
        return self

    async def __anext__(self) -> Event:
        while True:
            event = await self.next()
            if event is not None:
                return event

    def interrupt(self) -> None:
        """Make the pending (or next) call of next() return None."""
        self._interrupted = True
        self._wake()

    async def next(self) -> Event | None:
        while True:
            if self._interrupted:
                self._interrupted = False
                return None
            if self._error is not None:
                error, self._error = self._error, None
                self._closed = True
                raise error
            if self._closed:
                raise StopAsyncIteration
            queue = self._queue
            if queue:
                event = queue.popleft()
                self._delivered = event.kv.revision
                return event
            if not self._live:
                found = self._from_ring()
                if found is not None:
                    return found
                continue
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _from_ring(self) -> Event | None:
        """Next matching event from the ring; when caught up, subscribe (in the same step)."""
        cache = self._cache
        prefix = self.prefix
        ring = cache._ring
        cap = cache.capacity
        while self._next <= cache.revision:
            rev = self._next
            if rev <= cache.compacted:
                self._error = CompactedError(rev - 1, cache.compacted)
                return None
            entry = ring[rev % cap]
            self._next = rev + 1
            if entry is not None and entry.key.startswith(prefix):
                self._delivered = rev
                return cache.event_at(rev)
        if not cache.closed:
            cache._subscribe(self)
            self._live = True
        else:
            self._closed = True
        return None

    def _deliver(self, event: Event) -> bool:
        """Called by the writer; False means overflow (the cache then unsubscribes us)."""
        if event.kv.revision < self._next:
            return True
        if len(self._queue) >= self._cache.max_queue:
            return False
        self._queue.append(event)
        self._next = event.kv.revision + 1
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._error = None
        if self._live:
            watchers = self._cache._by_prefix.get(self.prefix)
            if watchers is not None:
                watchers.discard(self)
                if not watchers:
                    del self._cache._by_prefix[self.prefix]
            self._live = False
        self._queue.clear()
        self._wake()
