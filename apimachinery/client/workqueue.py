"""The work queue of controllers, with client-go's semantics (util/workqueue: queue.go,
delaying_queue.go, rate_limiting_queue.go), and the loop that runs reconcile workers on it.

Why a queue of *keys*: informer handlers only say "this object may need attention"; a worker
later re-reads the object from the cache and reconciles the whole of its state (level-based).
So many events about one object coalesce into one reconcile, and a reconcile never works on a
stale event.

The three structures (as in queue.go):
- `dirty`: keys that need processing. A key already dirty is not queued again (bursts
  coalesce into one reconcile).
- `processing`: keys handed to a worker and not yet `done()`. A key added while it is being
  processed is marked dirty but only re-queued by `done()`, so one key is never handled by two
  workers at once.
- the FIFO of dirty keys not being processed.

Delays (`add_after`, `add_rate_limited`) are timers on the event loop's clock, so tests can
drive them with fake loop time. Nothing here blocks or does I/O; the queue must only be used
from its event loop (it is not thread-safe).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass

from opentelemetry import trace

from apimachinery import metrics
from apimachinery.client.ratelimit import RateLimiter, default_controller_rate_limiter
from apimachinery.errors import StatusError

log = logging.getLogger(__name__)

# client-go's work queue buckets: 10 ns .. 10 s.
_DURATION_BUCKETS = metrics.exponential_buckets(1e-8, 10, 10)


class ShutDown(Exception):
    """`get()` on a queue that was shut down and has nothing left to hand out."""


class _QueueMetrics:
    def __init__(self, name: str, registry: metrics.Registry):
        self.depth = registry.gauge("workqueue_depth", "Current depth of workqueue", ["name"]).labels(name)
        self.adds = registry.counter("workqueue_adds_total", "Total number of adds handled by workqueue",
                                     ["name"]).labels(name)
        self.retries = registry.counter("workqueue_retries_total", "Total number of retries handled by workqueue",
                                        ["name"]).labels(name)
        self.queue_duration = registry.histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            ["name"], _DURATION_BUCKETS).labels(name)
        self.work_duration = registry.histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            ["name"], _DURATION_BUCKETS).labels(name)
        self.unfinished = registry.gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.", ["name"]).labels(name)
        self.longest = registry.gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            ["name"]).labels(name)


class WorkQueue:
    """A rate-limited, delaying work queue (client-go's RateLimitingInterface in one class).

    >>> q = WorkQueue("replicaset")
    >>> q.add("default/web"); q.add("default/web")   # coalesced: queued once
    >>> key = await q.get()                          # "default/web", now processing
    >>> q.add("default/web")                         # dirty, but not handed out twice
    >>> q.done(key)                                  # re-queued now
    """

    def __init__(self, name: str = "", *, rate_limiter: RateLimiter | None = None,
                 registry: metrics.Registry | None = None, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter()
        self._clock = clock
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        # Delayed adds: the earliest ready time per key, and a heap of (ready, seq, key).
        self._waiting: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._m = _QueueMetrics(name, registry or metrics.REGISTRY)
        self._m.unfinished.set_function(self._unfinished_seconds)
        self._m.longest.set_function(self._longest_running_seconds)

    def _unfinished_seconds(self) -> float:
        now = self._clock()
        return sum(now - t for t in self._started_at.values())

    def _longest_running_seconds(self) -> float:
        return self._clock() - min(self._started_at.values()) if self._started_at else 0.0

    # -- basic queue (queue.go) -------------------------------------------------------------

    def add(self, key: Hashable) -> None:
        """Mark `key` as needing processing. Ignored after `shutdown()`."""
        if self._shutting_down or key in self._dirty:
            return
        self._m.adds.inc()
        self._m.depth.inc()
        self._dirty.add(key)
        self._added_at.setdefault(key, self._clock())
        if key in self._processing:
            return  # `done()` re-queues it
        self._queue.append(key)
        self._wake_one()

    async def get(self) -> Hashable:
        """The next key, which is now being processed until `done(key)`. Waits while the queue
        is empty; raises `ShutDown` once the queue is shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._wake_one()  # we were woken but are leaving: pass the turn on
                else:
                    try:
                        self._waiters.remove(fut)
                    except ValueError:
                        pass
                raise
        key = self._queue.popleft()
        now = self._clock()
        self._m.depth.dec()
        self._m.queue_duration.observe(now - self._added_at.pop(key, now))
        self._started_at[key] = now
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: Hashable) -> None:
        """Processing of `key` ended; if it was added meanwhile, it is queued again now."""
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if started is not None:
            self._m.work_duration.observe(self._clock() - started)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()
        elif not self._processing:
            for fut in self._drain_waiters:
                if not fut.done():
                    fut.set_result(None)
            self._drain_waiters.clear()

    def __len__(self) -> int:
        """Keys waiting to be handed out (client-go's Len: not the processing or delayed ones)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def processing(self) -> frozenset[Hashable]:
        return frozenset(self._processing)

    def shutdown(self) -> None:
        """Refuse new adds and drop delayed ones. Keys already queued are still handed out;
        `get()` raises `ShutDown` once they are gone, which ends the workers."""
        if self._shutting_down:
            return
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
        self._heap.clear()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def shutdown_with_drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """`shutdown()`, then wait until no key is being processed (client-go's
        ShutDownWithDrain), at most `timeout` seconds."""
        self.shutdown()
        if not self._processing:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            log.warning("work queue %s: %d keys still processing after %ss of drain", self.name,
                        len(self._processing), timeout)

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def __aiter__(self) -> AsyncIterator[Hashable]:
        """`async for key in queue:` until shut down (the caller must still call `done`)."""
        while True:
            try:
                yield await self.get()
            except ShutDown:
                return

    # -- delaying queue (delaying_queue.go) ---------------------------------------------------

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add `key` after `delay` seconds. A key already waiting keeps the earlier time."""
        if self._shutting_down:
            return
        self._m.retries.inc()
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready = loop.time() + delay
        existing = self._waiting.get(key)
        if existing is not None and existing <= ready:
            return
        self._waiting[key] = ready
        heapq.heappush(self._heap, (ready, next(self._seq), key))
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._heap:
            return
        at = self._heap[0][0]
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        while self._heap and self._heap[0][0] <= now:
            ready, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == ready:  # else superseded by an earlier add_after
                del self._waiting[key]
                self.add(key)
        self._arm(loop)

    def waiting(self) -> int:
        """Keys scheduled by `add_after` that are not due yet."""
        return len(self._waiting)

    # -- rate limiting queue (rate_limiting_queue.go) ----------------------------------------

    def add_rate_limited(self, key: Hashable) -> None:
        """Add `key` after the rate limiter's delay (per-key exponential backoff)."""
        if self._shutting_down:
            return
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: Hashable) -> None:
        """`key` succeeded: reset its backoff (it does not remove it from the queue)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return self.rate_limiter.num_requeues(key)


# -- running reconcilers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for (controller-runtime's reconcile.Result).

    `requeue_after`: reconcile this key again after so many seconds (waiting for a
    minReadySeconds, a progress deadline ...), with the backoff reset. `requeue`: again, with
    backoff, as after an error but without logging one. Neither (or returning None): done."""

    requeue: bool = False
    requeue_after: float | None = None


Reconcile = Callable[[Hashable], Awaitable["Result | None"]]

_tracer = trace.get_tracer("mizzen.controllers")
_reconcile_id: contextvars.ContextVar[str] = contextvars.ContextVar("mizzen_reconcile_id", default="")


def reconcile_id() -> str:
    """The id of the reconcile running in this task ("" outside one), for log lines."""
    return _reconcile_id.get()


class ReconcileIdFilter(logging.Filter):
    """Adds `reconcile_id` to every log record (empty outside a reconcile), so a handler's
    format can carry it: `logging.Formatter("%(asctime)s %(reconcile_id)s %(message)s")`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.reconcile_id = _reconcile_id.get()
        return True


class _ReconcileMetrics:
    def __init__(self, controller: str, registry: metrics.Registry):
        self.registry = registry
        total = registry.counter("controller_runtime_reconcile_total",
                                 "Total number of reconciliations per controller", ["controller", "result"])
        self.success = total.labels(controller, "success")
        self.error = total.labels(controller, "error")
        self.requeue = total.labels(controller, "requeue")
        self.requeue_after = total.labels(controller, "requeue_after")
        self.errors = registry.counter("controller_runtime_reconcile_errors_total",
                                       "Total number of reconciliation errors per controller",
                                       ["controller"]).labels(controller)
        self.time = registry.histogram("controller_runtime_reconcile_time_seconds",
                                       "Length of time per reconciliation per controller", ["controller"],
                                       metrics.DEFAULT_BUCKETS + (15.0, 30.0, 60.0)).labels(controller)


_METRICS_CACHE: dict[tuple[str, int], _ReconcileMetrics] = {}


def _reconcile_metrics(controller: str, registry: metrics.Registry) -> _ReconcileMetrics:
    key = (controller, id(registry))
    m = _METRICS_CACHE.get(key)
    if m is None or m.registry is not registry:
        m = _METRICS_CACHE[key] = _ReconcileMetrics(controller, registry)
    return m


async def process_one(queue: WorkQueue, reconcile: Reconcile, key: Hashable, *, controller: str,
                      logger: logging.Logger = log, registry: metrics.Registry | None = None,
                      tracer: trace.Tracer | None = None) -> None:
    """Reconcile one key taken from `queue` and decide what becomes of it: forgotten on
    success, re-added with backoff on error or `requeue`, re-added later on `requeue_after`.
    The caller calls `queue.done(key)`."""
    m = _reconcile_metrics(controller, registry or metrics.REGISTRY)
    rid = uuid.uuid4().hex[:16]
    token = _reconcile_id.set(rid)
    started = time.monotonic()
    try:
        with (tracer or _tracer).start_as_current_span(
            f"reconcile {controller}",
            attributes={"mizzen.controller": controller, "mizzen.key": str(key), "mizzen.reconcile_id": rid},
            record_exception=False, set_status_on_exception=False,
        ) as span:
            try:
                result = await reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                span.record_exception(e)
                span.set_status(trace.StatusCode.ERROR, str(e))
                m.error.inc()
                m.errors.inc()
                n = queue.num_requeues(key)
                if isinstance(e, StatusError) and e.code == 409:
                    # Expected under concurrency: the cache was stale. Requeue, never lose it.
                    logger.info("reconcile %s %s [%s]: %s; requeued", controller, key, rid, e)
                else:
                    logger.error("reconcile %s %s [%s] failed (%d earlier failures): %s", controller, key, rid,
                                 n, e, exc_info=e)
                queue.add_rate_limited(key)
                return
            if result is not None and result.requeue_after is not None and result.requeue_after > 0:
                m.requeue_after.inc()
                queue.forget(key)
                queue.add_after(key, result.requeue_after)
            elif result is not None and result.requeue:
                m.requeue.inc()
                queue.add_rate_limited(key)
            else:
                m.success.inc()
                queue.forget(key)
    finally:
        m.time.observe(time.monotonic() - started)
        _reconcile_id.reset(token)


async def run_workers(queue: WorkQueue, reconcile: Reconcile, workers: int = 1, *, name: str | None = None,
                      logger: logging.Logger = log, registry: metrics.Registry | None = None,
                      tracer: trace.Tracer | None = None) -> None:
    """Run `workers` concurrent workers on `queue` until it is shut down and drained.

    Each worker takes a key, calls `reconcile(key)` inside a span `reconcile <name>`, and
    calls `done`; the queue guarantees that one key is never reconciled by two workers at
    once. Cancelling this coroutine cancels the workers."""
    controller = name or queue.name or "controller"

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            try:
                await process_one(queue, reconcile, key, controller=controller, logger=logger, registry=registry,
                                  tracer=tracer)
            finally:
                queue.done(key)

    tasks = [asyncio.create_task(worker(), name=f"{controller}-worker-{i}") for i in range(max(1, workers))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
