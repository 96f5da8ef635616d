# ruff: noqa: F811  (fixtures imported from client_cluster are redefined as parameters)
"""Leader election: the pure take/renew rules, then two candidates against the real mizzen
API server: only one leads, a released Lease passes on at once, a leader whose Lease is taken
stops its work."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from client_cluster import api, cluster, namespace  # noqa: F401

from apimachinery.client.leader import LEASES, LeaderElector, may_acquire, micro_time, next_spec
from apimachinery.client.rest import ApiClient

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_micro_time_format() -> None:
    assert micro_time(T0 + 0.25) == "2026-01-01T00:00:00.250000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", micro_time(T0))


@pytest.mark.parametrize(("spec", "observed_at", "now", "allowed"), [
    ({}, 0, 0, True),  # a new Lease
    ({"holderIdentity": ""}, 0, 0, True),  # released
    ({"holderIdentity": "me", "leaseDurationSeconds": 15}, 0, 1, True),  # ours: renew
    ({"holderIdentity": "other", "leaseDurationSeconds": 15}, 100, 114.9, False),  # still valid
    ({"holderIdentity": "other", "leaseDurationSeconds": 15}, 100, 115, True),  # expired on our clock
    ({"holderIdentity": "other", "leaseDurationSeconds": 1}, 100, 101, True),  # released the client-go way
])
def test_may_acquire(spec: dict[str, Any], observed_at: float, now: float, allowed: bool) -> None:
    assert may_acquire(spec, "me", observed_at, now) is allowed


@pytest.mark.parametrize(("spec", "acquire", "transitions"), [
    ({}, T0 + 5, 0),  # new Lease
    ({"holderIdentity": "me", "acquireTime": micro_time(T0), "leaseTransitions": 3}, T0, 3),  # renew keeps
    ({"holderIdentity": "other", "acquireTime": micro_time(T0), "leaseTransitions": 3}, T0 + 5, 4),  # take over
    ({"holderIdentity": "", "acquireTime": micro_time(T0), "leaseTransitions": 3}, T0 + 5, 4),  # released
])
def test_next_spec(spec: dict[str, Any], acquire: float, transitions: int) -> None:
    out = next_spec(spec, "me", T0 + 5, 15)
    assert out["holderIdentity"] == "me" and out["leaseDurationSeconds"] == 15
    assert out["renewTime"] == micro_time(T0 + 5)
    assert (out["acquireTime"], out["leaseTransitions"]) == (micro_time(acquire), transitions)


def test_timings_must_nest() -> None:
    with pytest.raises(ValueError):
        LeaderElector(None, "x", lease_duration=10, renew_deadline=10)  # type: ignore[arg-type]


# -- two candidates against the real API server -----------------------------------------------------


def elector(api: ApiClient, ns: str, identity: str) -> LeaderElector:
    return LeaderElector(api, "test-lock", ns, identity, lease_duration=3, renew_deadline=2, retry_period=0.2)


async def test_one_leader_then_handover_on_release(api: ApiClient, namespace: str) -> None:
    started: list[str] = []
    stopped: list[str] = []
    leading: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}

    def work(name: str):
        async def run() -> None:
            started.append(name)
            leading[name].set()
            await asyncio.Event().wait()  # lead until cancelled
        return run

    a, b = elector(api, namespace, "a"), elector(api, namespace, "b")
    task_a = asyncio.ensure_future(a.run(work("a"), lambda: stopped.append("a")))
    await asyncio.wait_for(leading["a"].wait(), 10)
    task_b = asyncio.ensure_future(b.run(work("b"), lambda: stopped.append("b")))
    await asyncio.sleep(1)  # b campaigns several times meanwhile
    assert started == ["a"] and a.is_leader and not b.is_leader and b.leader == "a"
    lease = await api.get(LEASES, "test-lock", namespace)
    assert lease["spec"]["holderIdentity"] == "a" and lease["spec"]["leaseDurationSeconds"] == 3
    assert re.fullmatch(r".*\.\d{6}Z", lease["spec"]["renewTime"])

    task_a.cancel()  # a stops cleanly: releases the Lease, b takes over without waiting it out
    with pytest.raises(asyncio.CancelledError):
        await task_a
    assert stopped == ["a"]
    await asyncio.wait_for(leading["b"].wait(), 10)
    lease = await api.get(LEASES, "test-lock", namespace)
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    task_b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task_b


async def test_leader_whose_lease_is_taken_stops_its_work(api: ApiClient, namespace: str) -> None:
    cancelled = asyncio.Event()
    leading = asyncio.Event()

    async def work() -> None:
        leading.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    stopped: list[bool] = []
    a = elector(api, namespace, "a")
    task = asyncio.ensure_future(a.run(work, lambda: stopped.append(True)))
    await asyncio.wait_for(leading.wait(), 10)
    # Someone else takes the Lease (as a partitioned leader would find on coming back).
    await api.patch(LEASES, "test-lock", {"spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 60}},
                    namespace=namespace)
    await asyncio.wait_for(task, 10)  # run() returns: leadership lost
    assert cancelled.is_set() and stopped == [True] and not a.is_leader
    lease = await api.get(LEASES, "test-lock", namespace)
    assert lease["spec"]["holderIdentity"] == "intruder"  # not released by a non-holder


async def test_leader_whose_work_crashes_steps_down(api: ApiClient, namespace: str) -> None:
    async def work() -> None:
        raise RuntimeError("controller bug")

    stopped: list[bool] = []
    a = elector(api, namespace, "a")
    await asyncio.wait_for(a.run(work, lambda: stopped.append(True)), 10)
    assert stopped == [True] and not a.is_leader
    lease = await api.get(LEASES, "test-lock", namespace)
    assert lease["spec"]["holderIdentity"] == ""  # released for the next candidate
