"""The scheduling queue (kube-scheduler's PriorityQueue): pods waiting for a node.

Three sub-queues:
- active: ready to be tried, highest `spec.priority` first, then first come first served;
- backoff: failed recently, waiting 1 s, 2 s, 4 s ... at most 10 s (per pod, by attempts);
- unschedulable: failed and nothing has changed since; they move back (to active, or to
  backoff while their backoff lasts) when the cluster changes in a way that may help
  (`move_all`: a node added or changed, a pod deleted), and after 5 minutes regardless.

If a cluster event arrives while a pod is being tried, a failure of that attempt goes to
backoff, not to unschedulable, so that the event is not lost (kube-scheduler's
moveRequestCycle).

The queue holds keys and `PodInfo`s; it does no I/O and never looks at the cluster."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from controllers.scheduler.framework import PodInfo

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_IN_UNSCHEDULABLE = 300.0


def backoff_duration(attempts: int, initial: float = INITIAL_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """1 s after the first failure, doubling per failure, at most 10 s: 1, 2, 4, 8, 10, 10 ..."""
    if attempts <= 0:
        return 0.0
    return min(cap, initial * (2 ** (attempts - 1)))


@dataclass(slots=True)
class QueuedPod:
    info: PodInfo
    added: float  # when first queued (FIFO order within a priority)
    attempts: int = 0
    last_failure: float = 0.0
    cycle: int = 0  # scheduling cycle in which it was popped

    def backoff_expiry(self) -> float:
        return self.last_failure + backoff_duration(self.attempts)


class SchedulingQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._pods: dict[str, QueuedPod] = {}  # every pod the queue knows, by key
        self._where: dict[str, str] = {}  # key -> "active" | "backoff" | "unschedulable" | "in-flight"
        self._active: list[tuple[int, float, int, str]] = []  # (-priority, added, seq, key)
        self._backoff: list[tuple[float, int, str]] = []  # (expiry, seq, key)
        self._seq = itertools.count()
        self._cycle = 0
        self._move_request_cycle = -1
        self._unschedulable: dict[str, None] = {}  # keys whose place is "unschedulable"
        self._last_timeout_check = 0.0
        self._wakeup = asyncio.Event()
        self._closed = False

    # -- inspection ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._pods)

    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def counts(self) -> dict[str, int]:
        out = {"active": 0, "backoff": 0, "unschedulable": 0, "in-flight": 0}
        for w in self._where.values():
            out[w] += 1
        return out

    # -- adding ---------------------------------------------------------------------------------

    def add(self, info: PodInfo) -> None:
        """A new pending pod (or a new version of one): to active unless it is in flight or
        waiting (then only its info is refreshed)."""
        qp = self._pods.get(info.key)
        if qp is not None:
            qp.info = info
            if self._where[info.key] == "unschedulable":
                self._move(qp)  # the pod itself changed: worth another try
            return
        qp = self._pods[info.key] = QueuedPod(info, self.clock())
        self._push_active(qp)

    def delete(self, key: str) -> None:
        """The pod was deleted or bound elsewhere: forget it wherever it is (heap entries of
        forgotten keys are skipped when popped)."""
        self._pods.pop(key, None)
        self._where.pop(key, None)
        self._unschedulable.pop(key, None)

    def _push_active(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.info.key, None)
        self._where[qp.info.key] = "active"
        heapq.heappush(self._active, (-qp.info.priority, qp.added, next(self._seq), qp.info.key))
        self._wakeup.set()

    def _push_backoff(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.info.key, None)
        self._where[qp.info.key] = "backoff"
        heapq.heappush(self._backoff, (qp.backoff_expiry(), next(self._seq), qp.info.key))
        self._wakeup.set()

    # -- outcomes of an attempt ------------------------------------------------------------------

    def done(self, key: str) -> None:
        """Scheduled (bound or assumed): the queue forgets it."""
        self.delete(key)

    def requeue_unschedulable(self, key: str) -> None:
        """No node fits: wait for a cluster change (or backoff, if one came meanwhile)."""
        qp = self._pods.get(key)
        if qp is None:
            return
        qp.attempts += 1
        qp.last_failure = self.clock()
        if self._move_request_cycle >= qp.cycle:
            self._push_backoff(qp)
        else:
            self._where[key] = "unschedulable"
            self._unschedulable[key] = None

    def requeue_error(self, key: str) -> None:
        """The attempt failed for another reason (binding error, API trouble): backoff."""
        qp = self._pods.get(key)
        if qp is None:
            return
        qp.attempts += 1
        qp.last_failure = self.clock()
        self._push_backoff(qp)

    # -- cluster events -------------------------------------------------------------------------

    def _move(self, qp: QueuedPod) -> None:
        if qp.backoff_expiry() > self.clock():
            self._push_backoff(qp)
        else:
            self._push_active(qp)

    def move_all(self) -> None:
        """Something changed that may let unschedulable pods fit (MoveAllToActiveOrBackoffQueue)."""
        self._move_request_cycle = self._cycle
        for key in list(self._unschedulable):
            self._move(self._pods[key])

    def flush(self) -> None:
        """Backoff pods whose time is up go to active; pods unschedulable for 5 min too."""
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            qp = self._pods.get(key)
            if qp is not None and self._where.get(key) == "backoff":
                if qp.backoff_expiry() > now:  # backed off again meanwhile: its newer entry counts
                    continue
                self._push_active(qp)
        if now - self._last_timeout_check < 1.0:
            return
        self._last_timeout_check = now
        for key in list(self._unschedulable):
            if now - self._pods[key].last_failure > MAX_IN_UNSCHEDULABLE:
                self._move(self._pods[key])

    # -- popping --------------------------------------------------------------------------------

    def pop_nowait(self) -> QueuedPod | None:
        self.flush()
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if self._where.get(key) != "active":
                continue  # stale entry
            qp = self._pods[key]
            self._cycle += 1
            qp.cycle = self._cycle
            self._where[key] = "in-flight"
            return qp
        return None

    def next_backoff_expiry(self) -> float | None:
        while self._backoff:
            exp, _, key = self._backoff[0]
            if self._where.get(key) == "backoff":
                return exp
            heapq.heappop(self._backoff)
        return None

    async def pop(self) -> QueuedPod | None:
        """The next pod to try; waits while none is ready. None once closed."""
        while not self._closed:
            qp = self.pop_nowait()
            if qp is not None:
                return qp
            self._wakeup.clear()
            exp = self.next_backoff_expiry()
            timeout = None if exp is None else max(0.0, exp - self.clock()) + 0.001
            timeout = 30.0 if timeout is None else min(timeout, 30.0)
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass
        return None

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()
