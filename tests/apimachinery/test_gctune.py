"""The collector thresholds every process holding caches of API objects takes: raised to
gctune.THRESHOLDS, never lowered below what a process chose itself; starting an informer
applies them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from apimachinery.client.informer import Informer
from apimachinery.client.rest import ApiClient
from apimachinery.gctune import THRESHOLDS, tune_for_long_lived_heap


@pytest.fixture
def saved_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.parametrize(("before", "after"), [
    ((700, 10, 10), THRESHOLDS),                # CPython's defaults: raised
    ((100_000, 5, 500), (100_000, 20, 500)),    # a process's own higher choice is kept
    (THRESHOLDS, THRESHOLDS),                   # already tuned: unchanged
])
def test_thresholds_are_raised_never_lowered(saved_thresholds: None, before: tuple[int, int, int],
                                             after: tuple[int, int, int]) -> None:
    gc.set_threshold(*before)
    tune_for_long_lived_heap()
    assert gc.get_threshold() == after


async def test_starting_an_informer_tunes_the_collector(saved_thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    async with ApiClient(server="https://127.0.0.1:9", max_retries=0) as client:
        inf = Informer(client, "configmaps", "default")
        inf.start()
        assert gc.get_threshold() == THRESHOLDS
        await inf.stop()
