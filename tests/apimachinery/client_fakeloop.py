"""An event loop whose clock only moves when a test says so, for timers (add_after, backoff,
leases) without real waiting or timing-dependent assertions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class FakeTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._now = 1000.0

    def time(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        self._now = max(self._now, t)


async def advance(seconds: float) -> None:
    """Move the fake clock forward and let every timer now due run (and what they wake)."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, FakeTimeLoop)
    loop.advance_to(loop.time() + seconds)
    for _ in range(10):
        await asyncio.sleep(0)


def run_fake(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run the coroutine function `fn` on a FakeTimeLoop."""
    with asyncio.Runner(loop_factory=FakeTimeLoop) as runner:
        return runner.run(fn())
