"""The batch consumer's use of faust's ack table, without a broker.

These pin the faust-streaming internals the worker relies on (``_acked``, ``_acked_index``,
``_committed_offset``, ``_new_offset``); faust-streaming is pinned in pyproject.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.types import TP

from tcnad.state.memory import MemoryCacheStore
from tcnad.topology.settings import Settings
from tcnad.topology.worker.app import create_app
from tcnad.topology.worker.consumer import BatchConsumer, Span, next_cap, spans

from .fakes import LAYOUT, FakeDetector


@dataclass
class Rec:
    offset: int


def consumer() -> BatchConsumer:
    app = create_app(
        Settings(metrics_enabled=False), detector=FakeDetector(), store=MemoryCacheStore(LAYOUT)
    )
    c = app.consumer
    assert isinstance(c, BatchConsumer)
    return c


def test_the_app_uses_the_batch_consumer_with_raw_values_and_short_timeouts() -> None:
    c = consumer()
    conf = c.app.conf
    assert conf.value_serializer == "raw" and conf.broker_session_timeout == 6.0
    assert c.tuning == {
        "fetch_max_wait_ms": 50,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "batch_max_wait_ms": 5,
        "batch_min_size": 1000,
        "save_interval_ms": 1000,
        "max_unsaved_records": 100_000,
    }
    assert [t for ch in c.app.topics for t in ch.topics] == ["readings"]


def test_the_batch_cap_doubles_when_filled_and_halves_when_not() -> None:
    assert next_cap(1000, 1000, 1000, 20_000) == 2000
    assert next_cap(16_000, 16_000, 1000, 20_000) == 20_000
    assert next_cap(20_000, 20_000, 1000, 20_000) == 20_000
    assert next_cap(8000, 300, 1000, 20_000) == 4000
    assert next_cap(1000, 999, 1000, 20_000) == 1000


async def test_a_backlog_is_read_in_growing_batches_and_a_trickle_in_small_ones() -> None:
    c = consumer()
    tp = TP("readings", 0)
    waiting = [51_000]  # records the broker holds
    asked: list[int] = []

    async def fetch(timeout: float) -> tuple[dict[TP, list[Any]], set[TP]]:
        asked.append(c.fetch_room)
        n = min(c.fetch_room, waiting[0])
        waiting[0] -= n
        return ({tp: [Rec(i) for i in range(n)]} if n else {}), {tp}

    c._wait_next_records = fetch  # type: ignore[method-assign]
    sizes = []
    for _ in range(6):
        batch = await c._next_batch()
        assert batch is not None
        sizes.append(len(batch[tp]))
    assert sizes == [1000, 2000, 4000, 8000, 16_000, 20_000]
    assert max(asked) == 20_000  # no fetch was allowed past the batch's cap
    sizes = []
    for _ in range(4):  # caught up: 300 records arrive per batch
        waiting[0] = 300
        batch = await c._next_batch()
        assert batch is not None
        sizes.append(len(batch[tp]))
    assert sizes == [300, 300, 300, 300]
    assert c.fetch_room <= 20_000 and c._cap == 1250  # 20,000 -> 10,000 -> ... -> 1,250


def test_the_batch_floor_follows_a_smaller_batch_cap() -> None:
    app = create_app(
        Settings(metrics_enabled=False, batch_max_size=400),
        detector=FakeDetector(),
        store=MemoryCacheStore(LAYOUT),
    )
    c = app.consumer
    assert isinstance(c, BatchConsumer)
    assert c.fetch_room == 400 and c._cap == 400


def test_a_handled_batch_becomes_committable_up_to_its_last_offset() -> None:
    c = consumer()
    tp = TP("readings", 0)
    c.ack_spans(spans({tp: [Rec(o) for o in range(0, 5)]}))
    assert c._new_offset(tp) == 5
    c._committed_offset[tp] = 5
    c.ack_spans(spans({tp: [Rec(5), Rec(6), Rec(9)]}))  # 7, 8: holes (e.g. compacted) are filled
    assert c._new_offset(tp) == 10
    assert c._n_acked == 10


def test_acks_below_the_committed_offset_are_ignored() -> None:
    c = consumer()
    tp = TP("readings", 3)
    c._committed_offset[tp] = 100
    c.ack_spans(spans({tp: [Rec(98), Rec(99), Rec(100), Rec(101)]}))
    assert sorted(c._acked[tp]) == [100, 101]
    assert c._new_offset(tp) == 102


def test_a_batch_prepared_before_a_revocation_or_generation_change_is_not_applied() -> None:
    from tcnad.topology.worker.consumer import Prefetched

    c = consumer()
    marks = (c.app.consumer_generation_id, c._revocations)
    item = Prefetched({}, None, marks)
    assert c._still_current(item)
    c._revocations += 1  # what on_partitions_revoked does first
    assert not c._still_current(item)
    fresh = Prefetched({}, None, (c.app.consumer_generation_id, c._revocations))
    c.app.consumer_generation_id += 1
    assert not c._still_current(fresh)
    c.stop_flow()
    assert not c._still_current(
        Prefetched({}, None, (c.app.consumer_generation_id, c._revocations))
    )


async def test_a_prefetched_batch_keeps_offsets_not_records() -> None:
    """The fetched records go once prepared: until its ack a batch holds one span per
    partition, which acks exactly what the records would have."""
    import gc
    import weakref

    from aiokafka.structs import ConsumerRecord

    def record(partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("readings", partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])

    c = consumer()
    tp, other = TP("readings", 0), TP("readings", 1)
    fetched = [{tp: [record(0, o) for o in (3, 4, 7)], other: [record(1, 0)]}]
    probe = weakref.ref(fetched[0][tp][0])

    async def next_batch() -> dict[TP, list[ConsumerRecord[bytes, bytes]]]:
        return fetched.pop()

    class Prepare:
        def prepare(self, records: list[object]) -> str:
            assert len(records) == 4
            return "prepared"

    c._next_batch = next_batch  # type: ignore[method-assign]
    c.batch_handler = Prepare()  # type: ignore[assignment]
    item = await c._prefetch()
    assert item is not None and item.prepared == "prepared"
    assert item.batch == {tp: Span(3, 7, 3), other: Span(0, 0, 1)}
    gc.collect()
    assert probe() is None  # nothing of the consumer's holds the records any more
    c.ack_spans(item.batch)
    assert sorted(c._acked[tp]) == [3, 4, 5, 6, 7] and c._acked[other] == [0]
    assert c._new_offset(tp) == 8 and c._new_offset(other) == 1


class GatedHandler:
    """A batch handler whose ``flush`` waits for ``release``."""

    def __init__(self) -> None:
        import asyncio

        self.release = asyncio.Event()
        self.flushes = 0

    async def flush(self) -> None:
        await self.release.wait()
        self.flushes += 1


async def saving(partition: int, n: int):  # type: ignore[no-untyped-def]
    """A consumer with a gated handler, offsets 0..n-1 applied and a save round of them in
    flight: (consumer, handler, tp, the round's task)."""
    import asyncio

    c = consumer()
    handler = GatedHandler()
    c.batch_handler = handler  # type: ignore[assignment]
    tp = TP("readings", partition)
    c.saver.applied(spans({tp: [Rec(o) for o in range(0, n)]}))
    task = asyncio.ensure_future(c.saver.save())
    await asyncio.sleep(0)
    return c, handler, tp, task


async def test_applied_batches_are_acked_only_after_a_flush_that_began_after_them() -> None:
    c, handler, tp, first = await saving(0, 5)
    c.saver.applied(spans({tp: [Rec(o) for o in range(5, 8)]}))  # applied during that flush
    assert c._new_offset(tp) is None  # nothing acked while the save is in flight
    handler.release.set()
    assert await first
    assert c._new_offset(tp) == 5 and len(c.saver.unsaved) == 1
    assert await c.saver.save()
    assert c._new_offset(tp) == 8 and handler.flushes == 2


async def test_a_failed_flush_acks_nothing_and_stops_the_worker() -> None:
    c = consumer()

    class Failing:
        async def flush(self) -> None:
            raise RuntimeError("redis gone")

    crashed: list[BaseException] = []

    async def crash(exc: BaseException) -> None:
        crashed.append(exc)

    c.batch_handler = Failing()  # type: ignore[assignment]
    c.app.crash = crash  # type: ignore[method-assign]
    tp = TP("readings", 1)
    c.saver.applied(spans({tp: [Rec(0), Rec(1)]}))
    assert not await c.saver.save()
    assert c._new_offset(tp) is None and isinstance(c.fatal, RuntimeError)
    assert len(crashed) == 1


async def test_the_stop_flush_waits_for_the_save_in_flight_and_acks_its_batches() -> None:
    import asyncio

    c, handler, tp, in_flight = await saving(2, 4)  # the saver's round
    assert not c.saver.unsaved  # taken by that round
    stopping = asyncio.ensure_future(c._final_flush())
    await asyncio.sleep(0.01)
    assert not stopping.done()  # it waits for the save in flight
    handler.release.set()
    await stopping
    assert in_flight.done() and c._new_offset(tp) == 4
