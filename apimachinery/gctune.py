"""The cycle collector, tuned for processes whose heap is mostly long-lived JSON trees.

An API server keeps every stored object in memory as dicts, a controller keeps its informers'
caches; those objects live long and hold no reference cycles (reference counting frees them).
CPython's default collector, made for short-lived scripts, examines the young generation every
700 allocations and the whole heap each time it has grown by a quarter. Measured here:
- the API server under a create load spent a quarter of its CPU in the collector, and each
  full collection paused every request for about 250 ms (bench/create_path.py);
- a controller process with 1,000-replica and 1,000-node caches spent 10-17 s of 28-37 s of
  CPU in 4,000 collections, 35 of them full ones at 0.2-0.3 s each (bench/controllers.py).

With the thresholds below the API server's collector time fell from ~25 % to ~1 % of a
create, the controllers' to 1.4 s of 20 s, at the same peak memory: most request garbage is
freed by reference counting before a collection looks at it, and each long-lived object is
examined a couple of times instead of dozens. Young cycles (asyncio, aiohttp) are still
collected by the first two generations: the collector is never turned off."""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune_for_long_lived_heap() -> None:
    """Raise the process's thresholds to THRESHOLDS, never lowering one a process chose."""
    current = gc.get_threshold()
    wanted = tuple(max(a, b) for a, b in zip(current, THRESHOLDS, strict=True))
    if wanted != current:
        gc.set_threshold(*wanted)
