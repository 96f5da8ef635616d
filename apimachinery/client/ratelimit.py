"""Rate limiters with client-go's semantics (util/workqueue/default_rate_limiters.go and
util/flowcontrol's token bucket).

A rate limiter answers one question, "how long must this item wait?", and keeps the state
needed to answer it (failure counts per item, tokens in a bucket). The work queue turns the
answer into a delayed add; the REST client awaits it before a request.

They never sleep and never do I/O: `when()` returns a delay in seconds and the caller decides
how to wait. The clock is injectable so that tests run on fake time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Protocol

Clock = Callable[[], float]


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds the item must wait before it is processed again (and count one failure)."""
        ...

    def forget(self, item: Hashable) -> None:
        """The item succeeded: clear what was counted against it."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        ...


class ItemExponentialFailureRateLimiter:
    """`base * 2**failures`, capped at `max_delay`, counted per item.

    With client-go's controller defaults (base 5 ms, max 1000 s) successive failures of one
    key wait 5 ms, 10 ms, 20 ms, 40 ms ... 1000 s (the cap is reached at the 19th failure:
    0.005 * 2**18 = 1310 s > 1000 s)."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0):
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp > 1000:  # 2**exp would overflow a float long before; the cap applies anyway
            return self.max_delay
        return min(self.base_delay * (2.0**exp), self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class TokenBucket:
    """`qps` tokens per second, at most `burst` stored. `reserve()` takes one token now or on
    credit and returns how long the caller must wait for it (0 when one was available)."""

    def __init__(self, qps: float, burst: int, clock: Clock = time.monotonic):
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def reserve(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps


class BucketRateLimiter:
    """An overall limit shared by every item (client-go: 10 qps, burst 100). It does not
    track items, so `forget` does nothing and `num_requeues` is 0."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = time.monotonic):
        self._bucket = TokenBucket(qps, burst, clock)

    def when(self, item: Hashable) -> float:
        return self._bucket.reserve()

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters (client-go's MaxOfRateLimiter)."""

    def __init__(self, *limiters: RateLimiter):
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(overall_bucket: bool = False, clock: Clock = time.monotonic) -> RateLimiter:
    """Per-key exponential backoff 5 ms doubling to 1000 s; with `overall_bucket`, also
    client-go's overall 10 qps / burst 100 bucket (its DefaultControllerRateLimiter)."""
    per_item = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    if not overall_bucket:
        return per_item
    return MaxOfRateLimiter(per_item, BucketRateLimiter(10.0, 100, clock))
