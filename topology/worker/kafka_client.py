"""The aiokafka clients under the worker's consumer: the consumer thread, with the
consumer's fetch settings and a close that survives a fetch cancelled in its retry
backoff, and the producer, whose close on stop is bounded like the stop's other steps
(``BatchConsumer.stop_time_left`` in consumer.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, cast, runtime_checkable

import aiokafka
from aiokafka.consumer.fetcher import FetchResult
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from tcnad.topology.settings import Settings
from tcnad.topology.wire.decode import RawRecord
from tcnad.topology.worker.saver import bounded

logger = logging.getLogger(__name__)


class Tunable(Protocol):
    """What the consumer thread reads of its ``BatchConsumer``."""

    tuning: Mapping[str, int]
    fetch_room: int


@runtime_checkable
class StopBounds(Protocol):
    """A consumer that bounds the stop's steps (``BatchConsumer``)."""

    stop_step_timeout_s: float

    def stop_time_left(self, own_s: float, since: float) -> float: ...


def tuned(tuning: Mapping[str, int], name: str) -> int:
    """A consumer setting from ``tuning``; the worker ``Settings`` default when absent."""
    value = tuning.get(name, Settings.model_fields[name].default)
    return int(value)


_new_tuple = tuple.__new__


def raw_record(tp: Any, record: Any) -> RawRecord:
    """aiokafka's ``PartitionRecords._consumer_record`` for the worker: the record as the
    ``RawRecord`` the worker decodes, instead of a ``ConsumerRecord`` of eleven fields
    (sizes, headers, checksum) that the worker would convert and drop. Half the consumer
    thread's Python time per record (``BatchConsumerThread._raw_fetches``)."""
    fields = (tp.topic, tp.partition, record.offset, record.key, record.value, record.timestamp)
    return _new_tuple(RawRecord, fields)


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """The aiokafka consumer with a short fetch wait and large fetches."""

    def _create_worker_consumer(
        self, transport: faust_aiokafka.Transport
    ) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        tuning = cast(Tunable, self.consumer).tuning
        # faust hard-codes fetch_max_wait_ms=1500; the fetcher is built from these in start().
        consumer._fetch_max_wait_ms = tuned(tuning, "fetch_max_wait_ms")
        consumer._fetch_max_bytes = tuned(tuning, "fetch_max_bytes")
        return consumer

    async def on_thread_stop(self) -> None:
        """faust's: stop the method queue, then the aiokafka consumer. During a broker outage
        aiokafka's fetcher can hold a fetch task in its retry backoff (``asyncio.sleep``
        outside its cancellation handler); ``close()`` cancels it and re-raises its
        ``CancelledError``. That aborts the consumer's close and mode's thread shutdown, and
        the worker's stop waits for mode's full ``shutdown_timeout`` (60 s). A
        ``CancelledError`` this task was not asked for is that one: finish the close
        (the fetcher's other tasks, the client's connections) and go on."""
        try:
            await super().on_thread_stop()
        except asyncio.CancelledError:
            cancelling = getattr(asyncio.current_task(), "cancelling", None)  # 3.11+
            if cancelling is not None and cancelling():
                raise  # this task is being cancelled: not the fetcher's leftover
            logger.info("kafka consumer: a fetch cancelled in its retry backoff; closing on")
            await self._finish_close()

    async def _finish_close(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        fetcher = getattr(consumer, "_fetcher", None)
        pending = [t for t in getattr(fetcher, "_pending_tasks", ()) if not t.done()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await consumer._client.close()
        except Exception as exc:  # the process is stopping; nothing else to do with it
            logger.debug("kafka client close: %r", exc)

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP] | None,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        """faust's, but the records are taken from every partition with fetched records in
        turn, an equal share of ``max_records`` each, then what is left from any of them.

        aiokafka hands out its fetched records partition by partition, the first one until it
        is empty. A fetch holds up to ``fetch_max_bytes`` of one partition, so while a
        backlog is read, a batch was one partition's readings: its streams' readings one round
        after another, each round a small fraction of the streams, and the detector's cost per
        call paid once per round. Taken in turn, a batch holds the streams of every
        partition, and each round steps all of them at once."""
        ready = self._ready_partitions(consumer, active_partitions)
        self._raw_fetches(consumer)
        active = cast(set[TP], active_partitions)  # faust passes None for all of them
        if max_records is None or len(ready) < 2:
            return await super()._fetch_records(
                consumer, active, timeout=timeout, max_records=max_records
            )
        out: dict[Any, list[Any]] = {}
        room = max_records
        share = max(1, room // len(ready))
        for tp in [*ready, None]:  # None: the room left, from any partition
            if room <= 0:
                break
            got = await super()._fetch_records(
                consumer,
                active if tp is None else {tp},
                timeout=0,
                max_records=room if tp is None else min(share, room),
            )
            for key, recs in got.items():
                out.setdefault(key, []).extend(recs)
                room -= len(recs)
        return out

    @staticmethod
    def _raw_fetches(consumer: aiokafka.AIOKafkaConsumer) -> None:
        """Have the fetches waiting in aiokafka's fetcher hand out ``RawRecord`` s
        (``raw_record``). A fetch that completes after this call still hands out
        ``ConsumerRecord`` s, which ``raw_records`` converts as before; so does every
        fetch if aiokafka's internals ever differ."""
        fetcher = getattr(consumer, "_fetcher", None)
        for res in list((getattr(fetcher, "_records", None) or {}).values()):
            part: Any = getattr(res, "_partition_records", None)
            if type(res) is FetchResult and hasattr(part, "_consumer_record"):
                part._consumer_record = raw_record

    @staticmethod
    def _ready_partitions(consumer: aiokafka.AIOKafkaConsumer, active: set[TP] | None) -> list[Any]:
        """The partitions whose fetched records are waiting in aiokafka's fetcher (and that
        are active, where ``active`` says)."""
        fetcher = getattr(consumer, "_fetcher", None)
        waiting = getattr(fetcher, "_records", None) or {}
        return [
            tp
            for tp, res in list(waiting.items())
            if type(res) is FetchResult and (active is None or tp in active)
        ]

    async def getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        """faust's ``getmany``, with the batch's room left as the fetch's record limit."""
        consumer = self._ensure_consumer()
        return await self.call_thread(
            self._fetch_records,
            consumer,
            active_partitions,
            timeout=timeout,
            max_records=cast(Tunable, self.consumer).fetch_room,
        )


class StopBoundedProducer(faust_aiokafka.Producer):
    """faust's aiokafka producer, whose close on stop is bounded like the stop's other
    steps (``BatchConsumer.stop_time_left``): aiokafka's ``stop()`` waits until every
    buffered message is delivered, which the producer retries for
    ``producer_request_timeout`` (20 minutes) while the broker is down."""

    async def on_stop(self) -> None:
        if await bounded_by_stop(super().on_stop(), self.app) is None:
            logger.info("stopping: the producer did not close (broker unreachable?)")


async def bounded_by_stop(work: Awaitable[Any], app: Any) -> tuple[Any] | None:
    """``(result,)`` of ``work``, or None once the app's ``BatchConsumer`` says the stop step
    has waited long enough (``stop_step_timeout_s``, less while the broker is down)."""
    consumer = getattr(app, "_consumer", None)
    if not isinstance(consumer, StopBounds):
        return (await work,)
    since = time.monotonic()
    return await bounded(work, lambda: consumer.stop_time_left(consumer.stop_step_timeout_s, since))
