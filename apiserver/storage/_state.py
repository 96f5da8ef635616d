"""The in-memory copy of the current state that every read is served from.

Why it exists: a GET or LIST must never wait behind the writer or touch SQLite; the whole
current state is small enough to hold in memory (it is what etcd holds too), so reads are a
dict lookup or a slice of a sorted key list.

Keys are kept in one sorted list next to the dict, so a prefix list is two bisections and a
slice: `start_after` and `limit` (the API server's `continue`/`limit`) cost O(log n + limit).

What it must never do: mutate a stored KeyValue (they are shared with callers and watchers),
or be changed by anything but the store's writer after a commit.
"""

from __future__ import annotations

import builtins
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable

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


class SortedState:
    """key -> KeyValue with keys in sorted order."""

    __slots__ = ("_map", "_keys")

    def __init__(self, items: Iterable[KeyValue] = ()) -> None:
        self._map: dict[str, KeyValue] = {kv.key: kv for kv in items}
        self._keys: list[str] = sorted(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def get(self, key: str) -> KeyValue | None:
        return self._map.get(key)

    def put(self, kv: KeyValue) -> None:
        if kv.key not in self._map:
            keys = self._keys
            # Appending in key order (the common case for generated names) is O(1).
            if not keys or keys[-1] < kv.key:
                keys.append(kv.key)
            else:
                insort(keys, kv.key)
        self._map[kv.key] = kv

    def remove(self, key: str) -> None:
        if self._map.pop(key, None) is not None:
            keys = self._keys
            i = bisect_left(keys, key)
            del keys[i]

    def _bounds(self, prefix: str, start_after: str = "") -> tuple[int, int]:
        keys = self._keys
        lo = bisect_left(keys, prefix) if prefix else 0
        if start_after and start_after >= prefix:
            lo = max(lo, bisect_right(keys, start_after))
        end = prefix_end(prefix)
        hi = len(keys) if end is None else bisect_left(keys, end)
        return lo, max(lo, hi)

    def list(self, prefix: str, limit: int = 0, start_after: str = "") -> tuple[list[KeyValue], int]:
        """Items under prefix after start_after (exclusive), at most limit (0 = all), and how
        many keys under prefix follow the last item returned."""
        lo, hi = self._bounds(prefix, start_after)
        if limit > 0 and hi - lo > limit:
            selected = self._keys[lo : lo + limit]
            remaining = hi - lo - limit
        else:
            selected = self._keys[lo:hi]
            remaining = 0
        m = self._map
        return [m[k] for k in selected], remaining

    def count(self, prefix: str) -> int:
        lo, hi = self._bounds(prefix)
        return hi - lo

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._keys)
