"""The work queue keeps client-go's promises: dedup, one worker per key, re-queue after done,
delays, per-key exponential backoff, drain on shutdown; and run_workers turns reconcile
results into the right queue operations. Timers run on a fake loop clock."""

from __future__ import annotations

import asyncio

import pytest
from client_fakeloop import advance, run_fake
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apimachinery import metrics
from apimachinery.client.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)
from apimachinery.client.workqueue import Result, ShutDown, WorkQueue, process_one, reconcile_id, run_workers
from apimachinery.errors import Conflict


def new_queue(name: str = "test", **kw) -> tuple[WorkQueue, metrics.Registry]:
    reg = metrics.Registry()
    return WorkQueue(name, registry=reg, **kw), reg


# -- rate limiters (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(("failures", "expected"), [
    (0, 0.005), (1, 0.010), (2, 0.020), (3, 0.040), (10, 5.12), (17, 655.36), (18, 1000.0), (40, 1000.0),
])
def test_exponential_backoff_doubles_from_5ms_to_1000s(failures: int, expected: float) -> None:
    rl = ItemExponentialFailureRateLimiter()
    for _ in range(failures):
        rl.when("k")
    assert rl.when("k") == pytest.approx(expected)
    assert rl.num_requeues("k") == failures + 1


def test_backoff_is_per_key_and_forget_resets_it() -> None:
    rl = default_controller_rate_limiter()
    assert [rl.when("a") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    assert rl.when("b") == pytest.approx(0.005)
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == pytest.approx(0.005)


def test_token_bucket_allows_burst_then_spaces_by_qps() -> None:
    now = [0.0]
    bucket = TokenBucket(qps=10, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    now[0] = 10.0  # refilled, but never above burst
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert bucket.reserve() == pytest.approx(0.1)


def test_max_of_takes_the_longest_delay() -> None:
    now = [0.0]
    rl = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(), BucketRateLimiter(qps=1, burst=1, clock=lambda: now[0]))
    assert rl.when("a") == pytest.approx(0.005)
    assert rl.when("b") == pytest.approx(1.0)  # the bucket is empty now
    assert rl.num_requeues("a") == 1


# -- queue semantics ------------------------------------------------------------------------------


async def test_adds_coalesce_and_come_out_in_fifo_order() -> None:
    q, reg = new_queue()
    for key in ["a", "b", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert reg.get("workqueue_adds_total").get("test") == 3
    assert reg.get("workqueue_depth").get("test") == 0


async def test_a_key_is_never_handed_to_two_workers_and_is_requeued_after_done() -> None:
    q, _ = new_queue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # while processing: dirty, not queued
    assert len(q) == 0
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.done("a")
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_done_without_readd_does_not_requeue() -> None:
    q, reg = new_queue()
    q.add("a")
    await q.get()
    q.done("a")
    assert len(q) == 0
    assert reg.get("workqueue_work_duration_seconds").count("test") == 1


async def test_shutdown_hands_out_what_is_queued_then_raises_and_ignores_adds() -> None:
    q, _ = new_queue()
    q.add("a")
    q.shutdown()
    q.add("b")
    assert await q.get() == "a"
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_wakes_waiting_getters() -> None:
    q, _ = new_queue()
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(getter, 1)


async def test_shutdown_with_drain_waits_for_keys_in_processing() -> None:
    q, _ = new_queue()
    q.add("a")
    await q.get()
    drain = asyncio.ensure_future(q.shutdown_with_drain())
    await asyncio.sleep(0)
    assert not drain.done()
    q.done("a")
    await asyncio.wait_for(drain, 1)


async def test_cancelled_getter_does_not_swallow_a_wakeup() -> None:
    q, _ = new_queue()
    first = asyncio.ensure_future(q.get())
    second = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.add("a")  # wakes `first`...
    first.cancel()  # ...which leaves before taking it
    assert await asyncio.wait_for(second, 1) == "a"


async def test_async_iteration_ends_at_shutdown() -> None:
    q, _ = new_queue()
    q.add("a")
    q.add("b")
    q.shutdown()
    seen = []
    async for key in q:
        seen.append(key)
        q.done(key)
    assert seen == ["a", "b"]


# -- delays (fake loop time) ----------------------------------------------------------------------


def test_add_after_waits_for_the_delay_and_keeps_the_earliest() -> None:
    async def scenario() -> None:
        q, reg = new_queue()
        q.add_after("a", 10)
        q.add_after("a", 30)  # later: ignored, the earlier time stands
        q.add_after("b", 5)
        assert len(q) == 0 and q.waiting() == 2
        await advance(5)
        assert len(q) == 1 and await q.get() == "b"
        await advance(4.9)
        assert len(q) == 0
        await advance(0.2)
        assert await q.get() == "a"
        await advance(30)
        assert len(q) == 0 and q.waiting() == 0
        assert reg.get("workqueue_retries_total").get("test") == 3

    run_fake(scenario)


def test_add_after_an_earlier_time_replaces_a_later_one() -> None:
    async def scenario() -> None:
        q, _ = new_queue()
        q.add_after("a", 60)
        q.add_after("a", 1)
        await advance(1)
        assert await q.get() == "a"
        q.done("a")
        await advance(60)
        assert len(q) == 0

    run_fake(scenario)


def test_add_rate_limited_backs_off_exponentially_per_key() -> None:
    async def scenario() -> None:
        q, _ = new_queue()
        for expected_delay in (0.005, 0.01, 0.02):
            q.add_rate_limited("a")
            await advance(expected_delay * 0.9)
            assert len(q) == 0
            await advance(expected_delay * 0.2)
            assert await q.get() == "a"
            q.done("a")
        assert q.num_requeues("a") == 3
        q.forget("a")
        assert q.num_requeues("a") == 0

    run_fake(scenario)


def test_shutdown_drops_delayed_keys() -> None:
    async def scenario() -> None:
        q, _ = new_queue()
        q.add_after("a", 1)
        q.shutdown()
        await advance(2)
        with pytest.raises(ShutDown):
            await q.get()

    run_fake(scenario)


# -- run_workers ------------------------------------------------------------------------------------


async def test_workers_never_reconcile_one_key_concurrently_and_coalesce_bursts() -> None:
    q, _ = new_queue()
    running: set[str] = set()
    overlaps = 0
    calls: list[str] = []
    gate = asyncio.Event()

    async def reconcile(key: str) -> None:
        nonlocal overlaps
        if key in running:
            overlaps += 1
        running.add(key)
        calls.append(key)
        await gate.wait()
        running.discard(key)

    task = asyncio.ensure_future(run_workers(q, reconcile, workers=4, name="demo", registry=metrics.Registry()))
    q.add("a")
    await asyncio.sleep(0.01)
    for _ in range(50):  # a burst while "a" is being reconciled
        q.add("a")
    q.add("b")
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.sleep(0.01)
    await q.shutdown_with_drain(timeout=5)
    await asyncio.wait_for(task, 5)
    assert overlaps == 0
    assert sorted(calls) == ["a", "a", "b"]  # the burst became one more reconcile


def test_errors_are_requeued_with_backoff_and_success_forgets() -> None:
    async def scenario() -> None:
        q, _ = new_queue()
        outcomes = [RuntimeError("boom"), Conflict("pods", "x"), None]
        seen: list[int] = []

        async def reconcile(key: str) -> None:
            seen.append(q.num_requeues(key))
            outcome = outcomes.pop(0)
            if outcome is not None:
                raise outcome

        task = asyncio.ensure_future(run_workers(q, reconcile, workers=2, registry=metrics.Registry()))
        q.add("k")
        await advance(0)
        assert seen == [0] and q.waiting() == 1
        await advance(0.006)
        assert seen == [0, 1]
        await advance(0.011)
        assert seen == [0, 1, 2]
        assert q.num_requeues("k") == 0  # forgotten after the success
        q.shutdown()
        await task

    run_fake(scenario)


@pytest.mark.parametrize(("result", "waiting", "requeues"), [
    (None, 0, 0),  # done: backoff forgotten
    (Result(), 0, 0),
    (Result(requeue=True), 1, 2),  # again, with backoff (one earlier failure + this one)
    (Result(requeue_after=30), 1, 0),  # again in 30 s, backoff forgotten
])
def test_results_decide_what_happens_to_the_key(result: Result | None, waiting: int, requeues: int) -> None:
    async def scenario() -> None:
        q, _ = new_queue()
        q.rate_limiter.when("k")  # one earlier failure
        q.add("k")
        key = await q.get()

        async def reconcile(_: str) -> Result | None:
            return result

        await process_one(q, reconcile, key, controller="demo", registry=metrics.Registry())
        q.done(key)
        assert (q.waiting(), q.num_requeues("k")) == (waiting, requeues)
        if result is not None and result.requeue_after:
            await advance(29)
            assert len(q) == 0
            await advance(2)
            assert len(q) == 1

    run_fake(scenario)


async def test_each_reconcile_gets_a_span_and_an_id() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    q, _ = new_queue()
    ids: list[str] = []

    async def reconcile(key: str) -> None:
        ids.append(reconcile_id())
        if key == "bad":
            raise ValueError("no")

    q.add("default/web")
    q.add("bad")
    q.shutdown()
    await run_workers(q, reconcile, name="replicaset", registry=metrics.Registry(), tracer=tracer)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["reconcile replicaset", "reconcile replicaset"]
    assert spans[0].attributes["mizzen.key"] == "default/web"
    assert spans[0].status.status_code.name == "UNSET"
    assert spans[1].status.status_code.name == "ERROR"
    assert len(set(ids)) == 2 and all(ids)
    assert reconcile_id() == ""


async def test_metrics_render_with_client_go_names() -> None:
    q, reg = new_queue("deployment")
    q.add("a")
    key = await q.get()
    q.done(key)
    text = reg.render()
    for name in ("workqueue_depth", "workqueue_adds_total", "workqueue_retries_total",
                 "workqueue_queue_duration_seconds", "workqueue_work_duration_seconds"):
        assert f"# TYPE {name} " in text
    assert 'workqueue_adds_total{name="deployment"} 1' in text
    assert 'workqueue_queue_duration_seconds_count{name="deployment"} 1' in text


def test_unfinished_work_gauges_follow_the_clock() -> None:
    now = [100.0]
    q, reg = new_queue("slow", clock=lambda: now[0])

    async def scenario() -> None:
        q.add("a")
        q.add("b")
        await q.get()
        now[0] = 103.0
        await q.get()
        now[0] = 110.0

    asyncio.run(scenario())
    assert reg.get("workqueue_longest_running_processor_seconds").get("slow") == 10.0
    assert reg.get("workqueue_unfinished_work_seconds").get("slow") == 17.0
    q.done("a")
    q.done("b")
    assert reg.get("workqueue_longest_running_processor_seconds").get("slow") == 0.0


async def test_reconcile_id_filter_adds_the_id_to_log_records(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from apimachinery.client.workqueue import ReconcileIdFilter

    logger = logging.getLogger("test.reconcile")
    logger.addFilter(ReconcileIdFilter())
    q, _ = new_queue()

    async def reconcile(key: str) -> None:
        logger.warning("working on %s", key)

    q.add("k")
    q.shutdown()
    with caplog.at_level(logging.WARNING, logger="test.reconcile"):
        await run_workers(q, reconcile, registry=metrics.Registry())
    record = caplog.records[-1]
    assert record.getMessage() == "working on k" and len(record.reconcile_id) == 16
