"""The in-memory copy of the current state that every read is served from.

Why it exists: a GET or LIST must never wait behind the writer or touch SQLite; the whole
current state is small enough to hold in memory (it is what etcd holds too), so reads are a
dict lookup or a slice of a sorted key list.

Keys are kept sorted next to the dict (`SortedKeys`, in chunks), so a prefix list is a few
bisections and slices: `start_after` and `limit` (the API server's `continue`/`limit`) cost
O(log n + limit), plus a count of what follows for `remainingItemCount`.

What it must never do: mutate a stored KeyValue (they are shared with callers and watchers),
or be changed by anything but the store's writer after a commit.
"""

from __future__ import annotations

import builtins
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator

from apiserver.storage.base import KeyValue


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix`, or None when
    there is none ("" covers everything).

    >>> prefix_end("/registry/pods/")
    '/registry/pods0'
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None


class SortedKeys:
    """Sorted distinct strings, kept in chunks of at most 2 * `chunk` keys with each chunk's
    last key in `_maxes`: an insert or removal is two bisections and a move within one chunk.

    Why not one sorted list: an insert at a random place (generated names, random suffixes)
    moves half the list; measured here, 6 us per insert at 60,000 keys and 21 us at 200,000,
    where this costs about a microsecond whatever the size."""

    __slots__ = ("_chunks", "_maxes", "_chunk")

    def __init__(self, keys: Iterable[str] = (), chunk: int = 512) -> None:
        ordered = sorted(keys)
        self._chunk = chunk
        self._chunks: builtins.list[builtins.list[str]] = [ordered[i:i + chunk] for i in range(0, len(ordered), chunk)]
        self._maxes: builtins.list[str] = [c[-1] for c in self._chunks]

    def add(self, key: str) -> None:
        """Insert key (not present yet)."""
        maxes, chunks = self._maxes, self._chunks
        if not chunks:
            chunks.append([key])
            maxes.append(key)
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):  # past the end: the common case of keys made in order
            i -= 1
            c = chunks[i]
            c.append(key)
            maxes[i] = key
        else:
            c = chunks[i]
            insort(c, key)
        if len(c) > 2 * self._chunk:
            chunks.insert(i + 1, c[self._chunk:])
            del c[self._chunk:]
            maxes.insert(i, c[-1])

    def remove(self, key: str) -> None:
        """Remove key (present)."""
        i = bisect_left(self._maxes, key)
        c = self._chunks[i]
        del c[bisect_left(c, key)]
        if not c:
            del self._chunks[i], self._maxes[i]
        else:
            self._maxes[i] = c[-1]

    def segments(self, lo: str, lo_inclusive: bool, hi: str | None) -> Iterator[builtins.list[str]]:
        """The keys from lo (inclusive or not) up to hi (exclusive; None: to the end), as
        slices of consecutive chunks."""
        chunks, maxes = self._chunks, self._maxes
        i = bisect_left(maxes, lo) if lo_inclusive else bisect_right(maxes, lo)
        first = True
        while i < len(chunks):
            c = chunks[i]
            j = 0
            if first:
                j = bisect_left(c, lo) if lo_inclusive else bisect_right(c, lo)
                first = False
            if hi is not None and c[-1] >= hi:
                yield c[j:bisect_left(c, hi, j)]
                return
            yield c[j:] if j else c
            i += 1

    def __iter__(self) -> Iterator[str]:
        for c in self._chunks:
            yield from c


class SortedState:
    """key -> KeyValue with keys in sorted order."""

    __slots__ = ("_map", "_keys")

    def __init__(self, items: Iterable[KeyValue] = ()) -> None:
        self._map: dict[str, KeyValue] = {kv.key: kv for kv in items}
        self._keys = SortedKeys(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def get(self, key: str) -> KeyValue | None:
        return self._map.get(key)

    def put(self, kv: KeyValue) -> None:
        if kv.key not in self._map:
            self._keys.add(kv.key)
        self._map[kv.key] = kv

    def remove(self, key: str) -> None:
        if self._map.pop(key, None) is not None:
            self._keys.remove(key)

    def _segments(self, prefix: str, start_after: str = "") -> Iterator[builtins.list[str]]:
        if start_after and start_after >= prefix:
            return self._keys.segments(start_after, False, prefix_end(prefix))
        return self._keys.segments(prefix, True, prefix_end(prefix))

    def list(self, prefix: str, limit: int = 0, start_after: str = "") -> tuple[builtins.list[KeyValue], int]:
        """Items under prefix after start_after (exclusive), at most limit (0 = all), and how
        many keys under prefix follow the last item returned."""
        m = self._map
        items: builtins.list[KeyValue] = []
        remaining = 0
        for seg in self._segments(prefix, start_after):
            room = limit - len(items) if limit > 0 else len(seg)
            if room >= len(seg):
                items += [m[k] for k in seg]
            else:
                items += [m[k] for k in seg[:room]]
                remaining += len(seg) - room
        return items, remaining

    def count(self, prefix: str) -> int:
        return sum(len(seg) for seg in self._segments(prefix))

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._keys)
