"""The batch pipeline without a broker: exactly-once application, dead letters, alerts,
fencing, store failures. A fake detector and the in-memory store stand in."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tcnad.detector.errors import DetectorError
from tcnad.state.codec import state_delta
from tcnad.state.memory import MemoryCacheStore
from tcnad.state.types import UNKNOWN_SOURCE, StreamUpdate, source_id
from tcnad.topology.worker import saver as saver_module
from tcnad.topology.worker.batch import StoreGaveUp
from tcnad.topology.worker.hotcache import HotCache
from tcnad.topology.worker.pipeline import BatchPipeline, PipelineConfig
from tcnad.topology.worker.saver import FencedTooOften, UnsavedStepsLost

from .fakes import LAYOUT, FakeDetector, RecordingPublisher, raw, reading, reference_state

CFG = PipelineConfig(store_backoff_s=0.001, store_backoff_max_s=0.002, store_retries=2)


def make(
    store: MemoryCacheStore | None = None, capacity: int = 64, cfg: PipelineConfig = CFG
) -> tuple[BatchPipeline, MemoryCacheStore, RecordingPublisher]:
    store = store or MemoryCacheStore(LAYOUT)
    pub = RecordingPublisher()
    det = FakeDetector(capacity=capacity)
    hot = HotCache(capacity, 100, 10**9)
    return BatchPipeline(det, store, pub, hot, cfg), store, pub


def series(stream: str, n: int, start: int = 0, partition: int = 0, value: float = 1.0) -> list:
    return [reading(stream, 1000.0 + i, value + i % 3, i, partition) for i in range(start, n)]


async def stored_state(store: MemoryCacheStore, stream: str):  # type: ignore[no-untyped-def]
    res = await store.load([stream])
    return res.records[stream]


def assert_state_equal(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.step == b.step
    np.testing.assert_array_equal(a.stats, b.stats)
    for x, y in zip(a.rings, b.rings, strict=True):
        np.testing.assert_array_equal(x, y)


async def test_every_reading_applied_once_in_order_with_one_load_and_one_save() -> None:
    pipe, store, _ = make()
    batch = series("a", 7) + series("b", 3, partition=1)
    batch.sort(key=lambda r: r.offset)  # interleave the two streams
    out = await pipe.process(batch)
    assert out.applied == 10 and out.records == 10 and not out.dead
    assert store.stats.round_trips == 2  # one load, one save
    rec = await stored_state(store, "a")
    assert rec.offset == 6 and rec.timestamp == 1006.0
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(7)]))
    assert pipe.detector.step_calls == [2, 2, 2, 1, 1, 1, 1]  # rounds, longest stream first
    # each reading's own time goes with it (the daily-pattern score needs it)
    assert pipe.detector.step_times[:2] == [[1000.0, 1000.0], [1001.0, 1001.0]]
    assert pipe.detector.step_times[-1] == [1006.0]


async def test_hot_streams_are_not_loaded_again() -> None:
    pipe, store, _ = make()
    await pipe.process(series("a", 3))
    trips = store.stats.round_trips
    await pipe.process(series("a", 6, start=3))
    assert store.stats.round_trips == trips + 1  # save only
    rec = await stored_state(store, "a")
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(6)]))


async def test_replayed_offsets_are_skipped_by_a_fresh_worker() -> None:
    pipe, store, _ = make()
    await pipe.process(series("a", 5))
    other, _, _ = make(store)  # a new owner: nothing hot, state from the store
    out = await other.process(series("a", 8))  # offsets 0-4 again, then 5-7
    assert out.replays == 5 and out.applied == 3
    rec = await stored_state(store, "a")
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(8)]))
    out = await other.process(series("a", 8))
    assert out.replays == 8 and out.applied == 0


def moved(stream: str, n: int, start: int, topic: str, partition: int = 0) -> list:
    """Readings ``start..n`` of ``stream`` (times as ``series``) from another source, whose
    offsets start at 0 again."""
    return [
        reading(stream, 1000.0 + i, 1.0 + i % 3, i - start, partition, topic)
        for i in range(start, n)
    ]


async def test_newer_readings_from_another_topic_are_applied_despite_lower_offsets() -> None:
    pipe, store, _ = make()
    await pipe.process(series("a", 6))  # offsets 0-5 of readings[0]
    other, _, _ = make(store)
    out = await other.process(moved("a", 10, 6, topic="readings-v2"))  # offsets 0-3
    assert out.applied == 4 and out.replays == 0 and not out.dead
    rec = await stored_state(store, "a")
    assert rec.offset == 3 and rec.source == source_id("readings-v2", 0)
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(10)]))


async def test_a_recreated_topic_and_a_new_partition_are_new_sources() -> None:
    pipe, store, _ = make()
    await pipe.process(series("a", 6))
    # the topic was deleted and created again: same name and partition, offsets from 0
    out = await pipe.process(moved("a", 9, 6, topic="readings"))
    assert out.applied == 3 and out.replays == 0
    # the stream's key now lands on partition 2 of the same topic
    out = await pipe.process(moved("a", 12, 9, topic="readings", partition=2))
    assert out.applied == 3 and out.replays == 0
    rec = await stored_state(store, "a")
    assert rec.source == source_id("readings", 2) and pipe.hot.partition_of("a") == 2
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(12)]))


async def test_old_readings_are_replays_from_the_stored_source_and_stale_from_another() -> None:
    pipe, store, _ = make()
    await pipe.process(series("a", 6))
    fresh, _, _ = make(store)
    out = await fresh.process(series("a", 6))  # the same records again: replays
    assert out.replays == 6 and out.applied == 0 and not out.dead
    out = await fresh.process(moved("a", 6, 0, topic="mirror"))  # old readings, new source
    assert out.replays == 0 and out.applied == 0 and out.dead == {"not_after_last": 6}
    assert (await stored_state(store, "a")).state.step == 6


async def test_a_state_of_unknown_source_keeps_the_offset_rule() -> None:
    """States stored before sources were recorded: old records are still replays."""
    pipe, store, _ = make()
    await pipe.process(series("a", 6))
    rec = await stored_state(store, "a")
    legacy = StreamUpdate("a", state_delta(rec.state, 0), rec.offset, rec.timestamp)
    await store.delete(["a"])
    assert (await store.save([legacy])).saved == ["a"]
    assert (await stored_state(store, "a")).source == UNKNOWN_SOURCE
    fresh, _, _ = make(store)
    out = await fresh.process(series("a", 8))
    assert out.replays == 6 and out.applied == 2 and not out.dead
    assert (await stored_state(store, "a")).source == source_id("readings", 0)


async def test_bad_records_and_stale_timestamps_go_to_the_dlq_with_reasons() -> None:
    pipe, store, pub = make()
    batch = [
        reading("a", 10.0, 1.0, 0),
        raw(b"\xff\xfe not json", 1, b"x"),
        raw(b'{"stream": "a", "ts": 11, "value": NaN}', 2, b"a"),
        reading("a", 10.0, 2.0, 3),  # not after the last (10.0)
        raw(b'{"stream": "a", "ts": 12, "value": [1, 2]}', 4, b"a"),
        reading("a", 13.0, 3.0, 5),
    ]
    out = await pipe.process(batch)
    assert out.applied == 2
    letters = pub.on("readings-dlq")
    assert sorted(d["offset"] for d in letters) == [1, 2, 3, 4]
    reasons = {d["offset"]: d["reason"] for d in letters}
    assert reasons == {1: "undecodable", 2: "non_finite", 3: "not_after_last", 4: "wrong_width"}
    assert out.dead == {"undecodable": 1, "non_finite": 1, "not_after_last": 1, "wrong_width": 1}
    assert (await stored_state(store, "a")).offset == 5


async def test_a_batch_of_only_bad_records_publishes_dead_letters() -> None:
    pipe, store, pub = make()
    out = await pipe.process([raw(None, 0), raw(b"{}", 1)])
    assert sum(out.dead.values()) == 2 and len(pub.on("readings-dlq")) == 2
    assert store.stats.round_trips == 0


async def test_alerts_have_deterministic_ids_and_are_acked_before_the_save() -> None:
    log: list[str] = []
    store = MemoryCacheStore(LAYOUT)
    real_save = store.save

    async def save(updates):  # type: ignore[no-untyped-def]
        log.append("save")
        return await real_save(updates)

    store.save = save  # type: ignore[method-assign]
    pipe, _, pub = make(store)
    pub.log = log
    batch = [reading("s", 100.0 + i, 5.0, i, partition=2) for i in range(6)]
    batch.append(reading("s", 200.0, 500.0, 6, partition=2))
    out = await pipe.process(batch)
    alerts = pub.on("alerts")
    assert out.alerts == 1 and len(alerts) == 1
    assert alerts[0]["id"] == "s:2:6" and alerts[0]["value"] == [500.0]
    assert alerts[0]["model_id"] == "fake01" and alerts[0]["lower"] == [-5.0]
    assert log == ["publish", "acked", "save"]


async def test_fenced_save_reloads_and_applies_the_batch_on_the_newer_state() -> None:
    store = MemoryCacheStore(LAYOUT)
    a, _, _ = make(store)
    b, _, _ = make(store)
    await a.process(series("s", 4))  # a: offsets 0-3, hot at step 4
    await b.process(series("s", 7, start=4))  # b took over: 4-6 from a's saved state
    out = await a.process(series("s", 9, start=4))  # stale a: 4-8 on its step-4 copy
    assert out.fenced == 1 and out.regressions == 0  # b's state is newer: no loss
    rec = await stored_state(store, "s")
    assert rec.offset == 8
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(9)]))


async def test_fenced_every_time_stops_without_acking() -> None:
    store = MemoryCacheStore(LAYOUT)
    pipe, _, _ = make(store, cfg=PipelineConfig(fenced_retries=1))

    async def always_fenced(updates):  # type: ignore[no-untyped-def]
        from tcnad.state.types import SaveResult

        return SaveResult([], [u.stream for u in updates])

    store.save = always_fenced  # type: ignore[method-assign]
    with pytest.raises(FencedTooOften):
        await pipe.process(series("s", 3))
    assert "s" not in pipe.hot


class Flaky(DetectorError):
    retriable = True


def make_flaky(store: MemoryCacheStore, method: str, n: int) -> dict[str, int]:
    """The store's ``method`` raises a retriable error on its next ``failures["n"]`` calls."""
    real = getattr(store, method)
    failures = {"n": n}

    async def call(arg):  # type: ignore[no-untyped-def]
        if failures["n"]:
            failures["n"] -= 1
            raise Flaky("redis down")
        return await real(arg)

    setattr(store, method, call)
    return failures


async def test_store_errors_are_retried_then_give_up() -> None:
    store = MemoryCacheStore(LAYOUT)
    failures = make_flaky(store, "load", 2)
    pipe, _, _ = make(store)
    out = await pipe.process(series("s", 3))
    assert out.applied == 3

    failures["n"] = 10
    pipe2, _, _ = make(store)
    with pytest.raises(StoreGaveUp, match="Redis"):
        await pipe2.process(series("t", 3))


async def test_non_retriable_store_errors_are_not_retried() -> None:
    store = MemoryCacheStore(LAYOUT)
    calls = {"n": 0}

    async def load(streams):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise DetectorError("bad")

    store.load = load  # type: ignore[method-assign]
    pipe, _, _ = make(store)
    with pytest.raises(DetectorError):
        await pipe.process(series("s", 1))
    assert calls["n"] == 1


async def test_more_streams_than_hot_slots_are_processed_in_chunks() -> None:
    pipe, store, _ = make(capacity=2)
    batch = [r for s in "abcde" for r in series(s, 4)]
    out = await pipe.process(batch)
    assert out.applied == 20 and len(pipe.hot) == 2
    for s in "abcde":
        rec = await stored_state(store, s)
        assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(4)]))
    out = await pipe.process([r for s in "abcde" for r in series(s, 6, start=4)])
    for s in "abcde":
        rec = await stored_state(store, s)
        assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(6)]))


async def test_revocation_drops_hot_streams_of_those_partitions() -> None:
    pipe, _, _ = make()
    await pipe.process(series("a", 2, partition=0) + series("b", 2, partition=1))
    assert pipe.on_revoked([1]) == 1
    assert "a" in pipe.hot and "b" not in pipe.hot


async def test_publish_failure_raises_and_saves_nothing() -> None:
    pipe, store, pub = make()
    pub.fail = RuntimeError("broker down")
    batch = [*series("a", 5), reading("a", 2000.0, 900.0, 5)]  # the last one alerts
    with pytest.raises(RuntimeError):
        await pipe.process(batch)
    assert (await store.load(["a"])).missing == ["a"]
    assert "a" not in pipe.hot  # unsaved steps are not kept
    pub.fail = None
    out = await pipe.process(batch)
    assert out.applied == 6 and out.alerts == 1
    rec = await stored_state(store, "a")
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(5)] + [900.0]))


async def test_apply_does_not_wait_for_acks_but_the_next_flush_does() -> None:
    log: list[str] = []
    pipe, _, pub = make()
    pub.log = log
    batch = [*series("a", 5), reading("a", 2000.0, 900.0, 5)]  # the last one alerts
    out = await pipe.apply(pipe.prepare(batch))
    assert out.alerts == 1 and log == ["publish"]  # sent, ack not awaited yet
    await pipe.flush()
    assert log == ["publish", "acked"]


async def test_a_batch_of_only_dead_letters_is_flushed_after_their_acks() -> None:
    log: list[str] = []
    pipe, store, pub = make()
    pub.log = log
    await pipe.apply(pipe.prepare([raw(b"{}", 0)]))
    await pipe.flush()  # no stream to save, but the dead letter's ack is awaited
    assert log == ["publish", "acked"] and store.stats.round_trips == 0


async def test_a_failed_ack_saves_nothing_and_stops_later_flushes() -> None:
    pipe, store, pub = make()
    await pipe.process(series("a", 3))
    pub.fail_ack = RuntimeError("broker lost the alerts")
    later = [*series("a", 8, start=3), reading("a", 2000.0, 900.0, 8)]  # alerts
    await pipe.apply(pipe.prepare(later))  # sent; its ack fails later
    with pytest.raises(RuntimeError, match="broker lost"):
        await pipe.flush()
    assert (await stored_state(store, "a")).state.step == 3  # the later steps: not saved
    pub.fail_ack = None
    with pytest.raises(UnsavedStepsLost):
        await pipe.flush()  # readings whose alerts may be lost: read them again


async def test_a_cancelled_flush_leaves_the_acks_for_the_next_flush() -> None:
    pipe, store, pub = make()
    pub.hold = asyncio.Event()
    await pipe.apply(pipe.prepare([*series("a", 5), reading("a", 2000.0, 900.0, 5)]))
    flush = asyncio.ensure_future(pipe.flush())
    await asyncio.sleep(0.01)  # waiting for the held ack
    flush.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flush
    pub.hold.set()
    await pipe.flush()  # the delivery was not cancelled with the flush
    assert pub.log == ["publish", "acked"]
    assert (await stored_state(store, "a")).state.step == 6


async def test_a_new_assignment_keeps_only_streams_of_owned_partitions() -> None:
    pipe, _, _ = make()
    await pipe.process(series("a", 2, partition=0) + series("b", 2, partition=1))
    assert pipe.keep_partitions({1, 2}) == 1
    assert "a" not in pipe.hot and "b" in pipe.hot


class GatedSave:
    """Wraps a store's save: the first ``gated`` calls wait for ``release``."""

    def __init__(self, store: MemoryCacheStore, gated: int = 1) -> None:
        self.real = store.save
        self.gated = gated
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0
        store.save = self  # type: ignore[method-assign]

    async def __call__(self, updates):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls <= self.gated:
            self.entered.set()
            await self.release.wait()
        return await self.real(updates)


async def test_a_batch_applied_while_a_save_is_in_flight_is_saved_by_the_next_flush() -> None:
    pipe, store, _ = make()
    gate = GatedSave(store)
    await pipe.apply(pipe.prepare(series("a", 4)))
    flushing = asyncio.ensure_future(pipe.flush())
    await gate.entered.wait()  # the save of steps 0-3 is in flight
    out = await pipe.apply(pipe.prepare(series("a", 7, start=4)))
    assert out.applied == 3 and pipe.dirty == 1
    gate.release.set()
    await flushing
    rec = await stored_state(store, "a")
    assert rec.offset == 3  # the first flush saved what was applied before it began
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(4)]))
    await pipe.flush()
    rec = await stored_state(store, "a")
    assert rec.offset == 6 and pipe.dirty == 0
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(7)]))


def _chunked(monkeypatch: pytest.MonkeyPatch, pipe: BatchPipeline) -> list[int]:
    """Snapshots of 2 streams at a time; returns the sizes of the delta reads made."""
    monkeypatch.setattr(saver_module, "SNAPSHOT_CHUNK", 2)
    reads: list[int] = []
    real = pipe.detector.delta

    def delta(slots, since):  # type: ignore[no-untyped-def]
        reads.append(len(slots))
        return real(slots, since)

    pipe.detector.delta = delta  # type: ignore[method-assign]
    return reads


async def test_a_batch_applied_between_snapshot_chunks_is_saved_once_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe, store, _ = make()
    reads = _chunked(monkeypatch, pipe)
    names = ["a", "b", "c", "d", "e"]
    await pipe.apply(pipe.prepare([r for i, s in enumerate(names) for r in series(s, 3 + i)]))
    flushing = asyncio.ensure_future(pipe.flush())
    while not reads:
        await asyncio.sleep(0)
    assert reads == [2]  # "a" and "b" taken; the loop is free before the next chunk
    later = await pipe.apply(pipe.prepare(series("a", 6, start=3) + series("e", 10, start=7)))
    assert later.applied == 6
    await flushing
    assert reads == [2, 2, 1]
    assert pipe.dirty == 1  # "a" again: its new steps came after it was taken
    assert (await stored_state(store, "a")).offset == 2
    assert (await stored_state(store, "e")).offset == 9  # taken with the later steps
    await pipe.flush()
    assert pipe.dirty == 0
    lengths = {"a": 6, "b": 4, "c": 5, "d": 6, "e": 10}
    for name, n in lengths.items():
        rec = await stored_state(store, name)
        assert rec.offset == n - 1, name
        assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(n)]))


async def test_a_flush_cancelled_between_snapshot_chunks_leaves_every_stream_dirty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe, store, _ = make()
    reads = _chunked(monkeypatch, pipe)
    await pipe.apply(pipe.prepare([r for s in "abcde" for r in series(s, 4)]))
    flushing = asyncio.ensure_future(pipe.flush())
    while not reads:
        await asyncio.sleep(0)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert reads == [2] and pipe.dirty == 5
    assert store.stats.round_trips == 1  # the load: no save was sent
    out = await pipe.flush()
    assert out.saved == 20 and pipe.dirty == 0
    for s in "abcde":
        rec = await stored_state(store, s)
        assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(4)]))


async def test_a_fenced_save_applies_again_the_readings_of_later_batches_too() -> None:
    store = MemoryCacheStore(LAYOUT)
    a, _, _ = make(store)
    b, _, _ = make(store)
    await a.process(series("s", 4))  # a: 0-3 saved, hot at step 4
    await b.process(series("s", 7, start=4))  # b took over: 4-6
    await a.apply(a.prepare(series("s", 9, start=4)))  # stale a: 4-8 on its step-4 copy
    gate = GatedSave(store)
    flushing = asyncio.ensure_future(a.flush())
    await gate.entered.wait()
    await a.apply(a.prepare(series("s", 11, start=9)))  # 9-10 while that save is in flight
    gate.release.set()
    out = await flushing
    assert out.fenced == 1
    await a.flush()
    rec = await stored_state(store, "s")
    assert rec.offset == 10
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(11)]))


async def test_streams_with_unsaved_steps_are_not_evicted_a_batch_waits_for_a_save() -> None:
    pipe, store, _ = make(capacity=2)
    await pipe.apply(pipe.prepare(series("a", 3) + series("b", 3)))
    assert (await store.load(["a", "b"])).missing == ["a", "b"]
    out = await pipe.apply(pipe.prepare(series("c", 3)))  # needs a slot: saves a and b first
    assert out.applied == 3 and "c" in pipe.hot
    for s in "ab":
        rec = await stored_state(store, s)
        assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(3)]))
    await pipe.flush()
    rec = await stored_state(store, "c")
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(3)]))


async def test_a_failed_save_keeps_its_steps_for_the_next_flush() -> None:
    store = MemoryCacheStore(LAYOUT)
    failures = make_flaky(store, "save", 10)
    pipe, _, _ = make(store)
    await pipe.apply(pipe.prepare(series("s", 3)))
    with pytest.raises(StoreGaveUp):
        await pipe.flush()
    await pipe.apply(pipe.prepare(series("s", 5, start=3)))
    failures["n"] = 0
    await pipe.flush()
    rec = await stored_state(store, "s")
    assert rec.offset == 4
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in range(5)]))


async def test_a_failed_batch_that_lost_unsaved_steps_of_earlier_batches_stops_flushes() -> None:
    pipe, store, pub = make()
    await pipe.apply(pipe.prepare(series("s", 3)))  # not saved yet
    pub.fail = RuntimeError("broker down")
    with pytest.raises(RuntimeError):
        await pipe.apply(pipe.prepare([*series("s", 5, start=3), reading("s", 2000.0, 900.0, 5)]))
    pub.fail = None
    with pytest.raises(UnsavedStepsLost):
        await pipe.flush()
    assert (await store.load(["s"])).missing == ["s"]


async def test_a_stream_dropped_while_its_fenced_save_was_in_flight_stops_flushes() -> None:
    store = MemoryCacheStore(LAYOUT)
    a, _, pub = make(store)
    b, _, _ = make(store)
    await a.process(series("s", 2))
    await a.apply(a.prepare(series("s", 4, start=2)))
    gate = GatedSave(store)
    flushing = asyncio.ensure_future(a.flush())
    await gate.entered.wait()
    gate.gated = 0
    await b.process(series("s", 5, start=2))  # another writer: a's save will be fenced
    pub.fail = RuntimeError("broker down")
    with pytest.raises(RuntimeError):  # a failed batch drops a's hot copy of s
        await a.apply(a.prepare([reading("s", 2000.0, 900.0, 9)]))
    gate.release.set()
    with pytest.raises(UnsavedStepsLost):
        await flushing


async def test_a_stored_state_that_went_back_is_counted_as_a_regression() -> None:
    store = MemoryCacheStore(LAYOUT)
    a, _, _ = make(store)
    b, _, _ = make(store)
    await a.process(series("s", 4))  # stored: step 4, offset 3
    await store.delete(["s"])  # Redis lost the last writes: an older state is back
    await b.process(series("s", 2))  # stored: step 2, offset 1
    out = await a.process(series("s", 6, start=4))  # a's save is fenced, the reload is older
    assert out.fenced == 1 and out.regressions == 1
    rec = await stored_state(store, "s")
    assert rec.offset == 5 and rec.state.step == 4  # offsets 2-3 are missing: the gap


async def test_a_reading_not_after_the_one_before_it_in_the_same_batch_is_dead() -> None:
    """Within one batch too: a stream's times must rise (the plan's common case, every
    reading new, does not skip the check)."""
    pipe, store, _ = make()
    batch = series("a", 5)
    batch[3] = reading("a", 1001.5, 2.0, 3, 0)  # after 1001.0, not after 1002.0
    out = await pipe.process(batch)
    assert out.applied == 4 and out.replays == 0 and out.dead == {"not_after_last": 1}
    rec = await stored_state(store, "a")
    assert_state_equal(rec.state, reference_state([1.0 + i % 3 for i in (0, 1, 2, 4)]))
