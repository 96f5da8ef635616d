"""The cycle collector, tuned for processes whose heap is mostly long-lived JSON trees.

An API server keeps every stored object in memory as dicts, and a controller keeps its
informers' caches; those objects live long and hold no reference cycles (reference counting
frees them). CPython's default collector, made for short-lived scripts, examines the young
generation every 700 allocations and the whole heap each time it has grown by a quarter: with
30,000 objects created in a row, an API server spent a quarter of its CPU in the collector,
and each full collection paused every request for about 250 ms (measured with
bench/api_vs_etcd.py's create load, in process).

A young generation of 20,000 allocations cuts that to a few percent: most request garbage is
freed by reference counting before a collection would have looked at it, and each surviving
object is examined a couple of times instead of dozens. Call it once at start, after the
start-up objects have been frozen out of the collector's view (gc.freeze). It never turns the
collector off: cyclic garbage is still found."""

from __future__ import annotations

import gc

YOUNG_GENERATION = 20_000


def tune_for_long_lived_heap() -> None:
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, middle, old)
