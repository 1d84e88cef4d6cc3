"""The consumer thread takes a batch's records from every partition in turn (mocked
fetcher: the order in which aiokafka hands out fetched records, no broker)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from aiokafka.consumer.fetcher import FetchResult
from aiokafka.structs import TopicPartition

from tcnad.topology.worker.kafka_client import BatchConsumerThread

P0, P1, P2 = (TopicPartition("readings", p) for p in range(3))


class FakeFetcher:
    """aiokafka's ``Fetcher.fetched_records`` as far as the order goes: partitions in the
    order their records were fetched, each drained before the next, up to ``max_records``."""

    def __init__(self, waiting: dict[TopicPartition, int]) -> None:
        self._closed = False
        self.left = {tp: list(range(n)) for tp, n in waiting.items()}
        self._records = {
            tp: FetchResult(tp, assignment=None, partition_records=None, backoff=0)
            for tp in waiting
        }
        self._subscriptions = SimpleNamespace(fetch_context=self._context)
        self.calls: list[tuple[Any, float | None, int | None]] = []

    @staticmethod
    @contextlib.contextmanager
    def _context() -> Iterator[None]:
        yield

    async def fetched_records(
        self, partitions: Any, timeout: float | None = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[int]]:
        self.calls.append((partitions, timeout, max_records))
        out: dict[TopicPartition, list[int]] = {}
        room = max_records if max_records is not None else 10**9
        for tp in list(self._records):
            if (partitions and tp not in partitions) or room == 0:
                continue
            take, self.left[tp] = self.left[tp][:room], self.left[tp][room:]
            if not self.left[tp]:
                del self._records[tp]
            if take:
                out[tp] = take
                room -= len(take)
        return out


def fetch(waiting: dict[TopicPartition, int], max_records: int | None, timeout: float = 1.0):  # type: ignore[no-untyped-def]
    thread = BatchConsumerThread.__new__(BatchConsumerThread)
    thread.consumer = SimpleNamespace(flow_active=True)  # type: ignore[assignment]
    fetcher = FakeFetcher(waiting)
    consumer = SimpleNamespace(_closed=False, _fetcher=fetcher)
    got = asyncio.run(
        thread._fetch_records(consumer, None, timeout=timeout, max_records=max_records)  # type: ignore[arg-type]
    )
    return got, fetcher


def test_a_batch_takes_an_equal_share_of_every_partition_then_the_room_left() -> None:
    got, fetcher = fetch({P0: 10, P1: 10, P2: 2}, max_records=9)
    # shares of 3: all of P2's 2, then the one record of room left from the first partition
    assert got == {P0: [0, 1, 2, 3], P1: [0, 1, 2], P2: [0, 1]}
    assert fetcher.left[P0] == list(range(4, 10)) and fetcher.left[P1] == list(range(3, 10))
    assert [c[1] for c in fetcher.calls] == [0, 0, 0, 0]  # records are waiting: no wait


def test_a_backlog_batch_holds_the_streams_of_every_partition() -> None:
    got, _ = fetch({P0: 10_000, P1: 10_000, P2: 10_000}, max_records=3_000)
    assert {tp: len(r) for tp, r in got.items()} == {P0: 1_000, P1: 1_000, P2: 1_000}
    assert all(r == list(range(1_000)) for r in got.values())  # each partition in order


def test_one_waiting_partition_or_none_is_fetched_as_before() -> None:
    got, fetcher = fetch({P0: 10}, max_records=4, timeout=1.5)
    assert got == {P0: [0, 1, 2, 3]}
    assert fetcher.calls == [(None, 1.5, 4)]  # one call, with the caller's wait
    got, fetcher = fetch({}, max_records=4, timeout=1.5)
    assert got == {} and fetcher.calls == [(None, 1.5, 4)]
