"""Leader election on `coordination.k8s.io/v1` Leases (client-go's leaderelection), so that
several copies of a component can run and only one acts.

The Lease `spec` is the lock: `holderIdentity`, `leaseDurationSeconds` (15), `acquireTime`,
`renewTime` (MicroTime, `2026-01-01T00:00:00.000000Z`) and `leaseTransitions`. A candidate
takes the Lease when it is free (no holder, or released) or when its holder has not renewed it
for `leaseDurationSeconds` *as measured on the candidate's own clock* since the candidate
last saw the record change (so clock skew between machines does not matter). Every write is a
PUT carrying the Lease's resourceVersion: two candidates racing both read, one write wins and
the other gets 409 Conflict and stays a follower.

The leader renews every `retry_period` (2 s). If it cannot renew for `renew_deadline` (10 s,
shorter than the lease duration so it stops before anyone else may start), it has lost
leadership: its work is cancelled, `on_stopped` is called, and `run` returns; the process
should then exit or start over. On a clean stop it releases the Lease so that a successor
need not wait out the lease.

The decisions (`may_acquire`, `next_spec`) are pure functions; I/O is in `LeaderElector`.
It never acts on a Lease it does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient
from apimachinery.errors import NotFound, StatusError

log = logging.getLogger(__name__)

_API_ERRORS: tuple[type[BaseException], ...] = (StatusError, *TRANSPORT_ERRORS)

LEASES = "leases.coordination.k8s.io"


def micro_time(t: float) -> str:
    """MicroTime as Kubernetes writes it: `2026-01-01T00:00:00.000000Z`."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    """`<hostname>_<uuid>`, as kube-controller-manager names its lock holder."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def may_acquire(spec: dict[str, Any], identity: str, observed_at: float, now: float) -> bool:
    """Whether `identity` may write the Lease whose spec is `spec`, which it first saw in this
    state at `observed_at` (its own monotonic clock), at `now`.

    Free (no holder) or ours: yes. Someone else's: only once `leaseDurationSeconds` passed
    since we observed the current record without it being renewed."""
    holder = spec.get("holderIdentity") or ""
    if not holder or holder == identity:
        return True
    duration = spec.get("leaseDurationSeconds") or 0
    return observed_at + duration <= now


def next_spec(spec: dict[str, Any], identity: str, now: float, lease_duration: int) -> dict[str, Any]:
    """The spec to write to take or renew the Lease at wall-clock `now`: renewing keeps
    `acquireTime` and `leaseTransitions`; taking over from another holder bumps
    `leaseTransitions` (taking a released or new Lease too, as client-go counts it)."""
    ours = (spec.get("holderIdentity") or "") == identity
    out = dict(spec)
    out["holderIdentity"] = identity
    out["leaseDurationSeconds"] = lease_duration
    out["renewTime"] = micro_time(now)
    if not ours or not spec.get("acquireTime"):
        out["acquireTime"] = micro_time(now)
        if spec:
            out["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        else:
            out["leaseTransitions"] = 0
    return out


class LeaderElector:
    """Campaign for the Lease `namespace/name` as `identity`.

    >>> elector = LeaderElector(api, "kube-controller-manager", "kube-system", identity)
    >>> await elector.run(on_started=run_controllers, on_stopped=lambda: log.info("lost"))
    """

    def __init__(self, client: ApiClient, name: str, namespace: str = "kube-system", identity: str | None = None,
                 *, lease_duration: int = 15, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 release_on_cancel: bool = True, wall_clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self._wall = wall_clock
        self._mono = monotonic
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None  # the last Lease we wrote or read
        self.leader: str | None = None  # the holder we last observed
        self._is_leader = False

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: read the Lease, and write it if we may. True if we hold it now."""
        now_wall, now_mono = self._wall(), self._mono()
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except NotFound:
            spec = next_spec({}, self.identity, now_wall, self.lease_duration)
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
            try:
                self._lease = await self.client.create(LEASES, body, self.namespace)
            except StatusError as e:  # AlreadyExists: someone else was faster
                log.debug("lease %s/%s: create failed: %s", self.namespace, self.name, e)
                return False
            self._observe(spec, now_mono)
            return True
        spec = lease.get("spec") or {}
        if self._observed_spec is None or _record(spec) != _record(self._observed_spec):
            self._observe(spec, now_mono)
        if not may_acquire(spec, self.identity, self._observed_at, now_mono):
            return False
        new = dict(lease)
        new["spec"] = next_spec(spec, self.identity, now_wall, self.lease_duration)
        try:
            self._lease = await self.client.replace(LEASES, new, self.namespace)
        except StatusError as e:  # Conflict: another candidate wrote first
            log.debug("lease %s/%s: update failed: %s", self.namespace, self.name, e)
            return False
        self._observe(new["spec"], now_mono)
        return True

    def _observe(self, spec: dict[str, Any], at: float) -> None:
        self._observed_spec = spec
        self._observed_at = at
        holder = spec.get("holderIdentity") or None
        if holder != self.leader:
            self.leader = holder
            if holder:
                log.info("lease %s/%s: leader is now %s", self.namespace, self.name, holder)

    async def _attempt(self, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            return await asyncio.wait_for(self.try_acquire_or_renew(), max(0.05, timeout))
        except _API_ERRORS as e:
            log.warning("lease %s/%s: %s", self.namespace, self.name, e)
            return False

    def _jittered(self) -> float:
        return self.retry_period * (1 + random.uniform(0, 0.2))

    async def acquire(self) -> None:
        """Return once we hold the Lease, trying every `retry_period` (jittered)."""
        log.info("lease %s/%s: %s campaigning", self.namespace, self.name, self.identity)
        while not await self._attempt(self.renew_deadline):  # noqa: ASYNC110
            await asyncio.sleep(self._jittered())
        self._is_leader = True
        log.info("lease %s/%s: %s became leader", self.namespace, self.name, self.identity)

    async def renew_until_lost(self) -> None:
        """Renew every `retry_period`; return when renewal has failed for `renew_deadline`."""
        last_ok = self._mono()
        while True:
            await asyncio.sleep(self.retry_period)
            remaining = last_ok + self.renew_deadline - self._mono()
            if await self._attempt(remaining):
                last_ok = self._mono()
                continue
            if self._mono() - last_ok >= self.renew_deadline or (self.leader and self.leader != self.identity):
                self._is_leader = False
                log.warning("lease %s/%s: %s lost leadership", self.namespace, self.name, self.identity)
                return

    async def release(self) -> None:
        """Give the Lease up (holder "", duration 1 s) if we hold it, so a successor starts now."""
        if self._lease is None or (self._lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        new = dict(self._lease)
        now = micro_time(self._wall())
        new["spec"] = {**(self._lease.get("spec") or {}), "holderIdentity": "", "leaseDurationSeconds": 1,
                       "renewTime": now, "acquireTime": now}
        try:
            self._lease = await asyncio.wait_for(self.client.replace(LEASES, new, self.namespace), 5)
            log.info("lease %s/%s: %s released", self.namespace, self.name, self.identity)
        except _API_ERRORS as e:
            log.warning("lease %s/%s: release failed: %s", self.namespace, self.name, e)

    async def run(self, on_started: Callable[[], Awaitable[Any]],
                  on_stopped: Callable[[], Any] | None = None) -> None:
        """Campaign; once leader, run `on_started()` as a task while renewing. When leadership
        is lost, cancel that task, call `on_stopped()` and return. When this coroutine is
        cancelled, or the work ends or fails by itself, also release the Lease (so that another
        candidate takes over at once), call `on_stopped()` and return (or re-raise the
        cancellation). `run` may be called again to stand again."""
        work: asyncio.Task[Any] | None = None
        try:
            await self.acquire()
            work = asyncio.ensure_future(on_started())
            renew = asyncio.ensure_future(self.renew_until_lost())
            try:
                done, _ = await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
                if work in done and renew not in done:
                    # The work ended by itself (or crashed): a leader that does nothing must not
                    # keep the Lease. Step down (release below) and let the caller decide.
                    if not work.cancelled() and work.exception() is not None:
                        log.error("lease %s/%s: leader work failed; stepping down", self.namespace, self.name,
                                  exc_info=work.exception())
                    else:
                        log.info("lease %s/%s: leader work ended; stepping down", self.namespace, self.name)
            finally:
                renew.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renew
        finally:
            was_leader = work is not None
            still_holding = self._is_leader  # False once renewal failed: then it is not ours to release
            if work is not None and work.done() and not work.cancelled():
                work.exception()  # retrieved (logged above): no "never retrieved" warning
            self._is_leader = False
            if work is not None and not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
            if still_holding and self.release_on_cancel:
                await self.release()
            if was_leader and on_stopped is not None:
                result = on_stopped()
                if inspect.isawaitable(result):
                    await result
            if work is not None and work.done() and not work.cancelled() and work.exception() is not None:
                await asyncio.sleep(self.retry_period)  # a caller standing again must not spin


def _record(spec: dict[str, Any]) -> tuple[Any, ...]:
    return (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"),
            spec.get("leaseDurationSeconds"), spec.get("leaseTransitions"))


__all__ = ["LeaderElector", "default_identity", "may_acquire", "micro_time", "next_spec"]


async def run_until_stopped(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Run `work` until it ends or `stop` is set (then it is cancelled and awaited); a
    failure of `work` is raised here."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, stopper):
            t.cancel()
        for t in (task, stopper):
            with contextlib.suppress(asyncio.CancelledError):
                await t
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def run_as_leader(client: ApiClient, lease: str, namespace: str, lead: Callable[[], Awaitable[None]], *,
                        stop: asyncio.Event, enabled: bool = True, identity: str | None = None,
                        component: str = "") -> None:
    """Until `stop` is set: campaign for the Lease `namespace/lease` and run `lead()` while
    holding it, standing again whenever leadership is lost (every mizzen component that may
    run in several copies: controller manager, scheduler, node lifecycle). With `enabled`
    False, `lead()` runs at once, without a Lease."""
    async def campaign() -> None:
        if not enabled:
            await lead()
            return
        from apimachinery.resources import DEFAULT
        namespaces = DEFAULT.by_resource("", "v1", "namespaces")
        assert namespaces is not None
        try:
            await client.create(namespaces, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        except StatusError as e:
            if e.code != 409:
                log.warning("%s: could not create namespace %s: %s", component or lease, namespace, e)
        elector = LeaderElector(client, lease, namespace, identity)
        while not stop.is_set():
            await elector.run(on_started=lead,
                              on_stopped=lambda: log.info("%s: leadership released", component or lease) if stop.is_set()
                              else log.warning("%s: leadership lost", component or lease))

    await run_until_stopped(campaign(), stop)
