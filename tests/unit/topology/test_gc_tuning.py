"""``tune_gc``: frozen start-up objects, the young threshold, rare middle-generation passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tcnad.topology.settings import GC_GEN1_THRESHOLD, Settings
from tcnad.topology.worker.runtime import GcPauses, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_zero_leaves_the_collector_alone(restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    frozen = gc.get_freeze_count()
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == frozen


def test_threshold_and_freeze(restore_gc: None) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 7, 9)
    alive = [[i] for i in range(5000)]  # lists: tracked by the collector
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, GC_GEN1_THRESHOLD, 9)
    assert gc.get_freeze_count() >= len(alive)
    assert gc.isenabled()


def test_setting_default_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().gc_gen0_threshold == 10_000
    monkeypatch.setenv("TCNAD_GC_GEN0_THRESHOLD", "0")
    assert Settings().gc_gen0_threshold == 0


def test_pauses_are_timed_per_generation_and_drained_once() -> None:
    pauses = GcPauses()
    pauses.install()
    try:
        pauses.install()  # once only
        assert gc.callbacks.count(pauses) == 1
        gc.collect(0)
        gc.collect(2)
    finally:
        pauses.remove()
    assert pauses not in gc.callbacks
    got = pauses.drain()
    assert [g for g, _ in got] == [0, 2] and all(0.0 <= s < 5.0 for _, s in got)
    assert pauses.drain() == []
