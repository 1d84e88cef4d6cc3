"""faust's aiokafka consumer, fed whole batches instead of one event at a time.

Stock faust delivers each record through ``Conductor.on_message`` -> ``Event`` -> ``Stream``
with a per-event ack, too much event-loop work per record (docs/architecture.md, "Why a
consumer subclass"). ``BatchConsumer`` replaces ``Consumer._drain_messages``: a batch is one
fetch (``_wait_next_records``) plus whatever arrives while the previous batch is still being
applied and for ``batch_max_wait_ms`` after, up to a cap: ``batch_min_size`` records while
the worker keeps up, doubled by each batch that fills it and halved by each that does not,
within ``broker_max_poll_records`` (``next_cap``). The handler ``prepare`` s it (decoding,
done one batch ahead while the previous batch waits on Redis and Kafka) and ``apply`` s it
(score, publish alerts). The ``Saver`` (saver.py) runs the handler's ``flush`` behind the
batches and keeps each applied batch as its offsets (one ``Span`` per partition) until the
save that covers it returns; then ``ack_spans`` puts them into faust's own ack table
(``_acked`` / ``_acked_index``), so faust's commit timer, commit on stop and rebalance logic
keep working, and no offset is committed before the state it produced is saved.

Rebalance: ``on_partitions_revoked`` invalidates the batch prepared ahead, waits for the
batch being applied, flushes and acks everything applied, commits it (stock faust drops the
acks of revoked partitions before it commits, which re-delivers them to the new owner),
tells the handler, and only then runs faust's own revocation.

This leans on faust-streaming internals; the version is pinned in pyproject.toml, and
tests/unit/topology/test_consumer.py and the rebalance integration tests cover the seams.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from tcnad.topology.wire.decode import RawRecord, raw_records
from tcnad.topology.worker.kafka_client import BatchConsumerThread, StopBoundedProducer, tuned
from tcnad.topology.worker.saver import Saver, Span, bounded

logger = logging.getLogger(__name__)


class BatchHandler(Protocol):
    def prepare(self, records: Sequence[RawRecord]) -> Any:
        """CPU work that needs no state (decoding); may run while the previous batch is
        still being applied."""
        ...

    async def apply(self, prepared: Any) -> None:
        """Apply a prepared batch (score, publish alerts); raise if it cannot be."""
        ...

    async def flush(self) -> None:
        """Save what every batch applied before this call changed; once it returns, those
        batches may be acked (raise otherwise)."""
        ...

    def on_revoked(self, partitions: Iterable[TP]) -> None:
        """Partitions were taken away: forget what is cached for them."""
        ...

    def on_assigned(self, partitions: Iterable[TP]) -> None:
        """The partitions owned after a rebalance."""
        ...

    def on_lag(self, lag: int) -> None:
        """Records between the end of the last batch and the log end (approximate)."""
        ...


def spans(batch: Mapping[TP, Sequence[Any]]) -> dict[TP, Span]:
    """Per partition, the offsets of a fetched batch (records in offset order). Only these
    are kept until the batch is acked: the records themselves can go once prepared."""
    return {tp: Span(r[0].offset, r[-1].offset, len(r)) for tp, r in batch.items() if r}


@dataclass(frozen=True)
class Prefetched:
    """A fetched batch's offsets, its prepared form, and the (generation, revocations) it
    saw."""

    batch: dict[TP, Span]
    prepared: Any
    marks: tuple[int, int]


def next_cap(cap: int, size: int, low: int, high: int) -> int:
    """The next batch's record cap after a batch of ``size`` under ``cap``: doubled if the
    batch filled it (records are arriving faster than small batches take them), else
    halved; within ``[low, high]``. A backlog is read in batches that grow to ``high``
    (fewer per-batch costs); a worker that keeps up takes small ones, so a reading waits
    for less work ahead of it."""
    return min(high, cap * 2) if size >= cap else max(low, cap // 2)


class BatchConsumer(faust_aiokafka.Consumer):
    """A faust consumer whose records go to ``batch_handler`` a whole fetch at a time."""

    tuning: ClassVar[Mapping[str, int]] = {}
    # How long each step of a stop that needs the broker may wait (stop_time_left):
    # finishing the batch in flight, and the final save (it waits for the broker's acks of
    # the messages the batches sent); each commit of faust's stop, the producer's flush and
    # its close; and all of them together while the dependency probe finds the broker down.
    finish_timeout_s: ClassVar[float] = 10.0
    stop_step_timeout_s: ClassVar[float] = 3.0
    outage_stop_timeout_s: ClassVar[float] = 3.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handler: BatchHandler | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._fatal: BaseException | None = None
        self._revocations = 0
        self.saver = Saver(
            flush=lambda: self._require_handler().flush(),
            ack=self.ack_spans,
            fail=self._fail,
            stopped=lambda: self._fatal is not None,
            interval_s=tuned(self.tuning, "save_interval_ms") / 1000.0,
            max_unsaved_records=tuned(self.tuning, "max_unsaved_records"),
        )
        # Whether the broker answers the dependency probe (set by the app; stop_time_left).
        self.broker_reachable: Callable[[], bool] = lambda: True
        self._stop_began: float | None = None
        self._commit_given_up = False
        self._cap = self._min_cap()  # the next batch's record cap (next_cap)
        self.fetch_room = self._cap  # records the next fetch may return

    def _min_cap(self) -> int:
        return min(tuned(self.tuning, "batch_min_size"), self._max_cap())

    def _max_cap(self) -> int:
        return int(self.app.conf.broker_max_poll_records or 10_000)

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def fatal(self) -> BaseException | None:
        """The error that stopped batch handling, if any (the worker exits non-zero)."""
        return self._fatal

    async def _drain_messages(self, fetcher: Any) -> None:
        """Fetch -> prepare -> apply the whole batch, until the fetcher or we stop; the
        saver task saves and bulk-acks behind. The next batch is fetched and prepared while
        the current one is applied (its Kafka round trips leave the event loop idle); it is
        dropped if a rebalance started meanwhile."""
        should_stop = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        ahead: asyncio.Future[Prefetched | None] | None = None
        self.saver.start()
        try:
            while not (should_stop() or fetcher_stopped()):
                if ahead is None:
                    ahead = asyncio.ensure_future(self._prefetch())
                item = await ahead
                ahead = None
                if item is None or self.should_stop:
                    await asyncio.sleep(0)
                    continue
                if not self._still_current(item):
                    logger.debug("dropping a batch fetched before a rebalance")
                    await self._seek_back()
                    continue
                ahead = asyncio.ensure_future(self._prefetch())
                await self._handle(item.batch, item.prepared)
                if self._fatal is not None:
                    return
            await self._final_flush()
        except asyncio.CancelledError:
            await self._final_flush()
            raise
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                logger.info("broker stopped the consumer, shutting down")
                await self._final_flush()
                return
            raise
        finally:
            if ahead is not None:
                ahead.cancel()
            self.saver.stop()

    async def _prefetch(self) -> Prefetched | None:
        marks = (self.app.consumer_generation_id, self._revocations)
        batch = await self._next_batch()
        if not batch:
            return None
        handler = self._require_handler()
        return Prefetched(spans(batch), handler.prepare(raw_records(batch.values())), marks)

    def _still_current(self, item: Prefetched) -> bool:
        return self.flow_active and item.marks == (
            self.app.consumer_generation_id,
            self._revocations,
        )

    def _require_handler(self) -> BatchHandler:
        if self.batch_handler is None:
            raise RuntimeError("BatchConsumer started without a batch_handler")
        return self.batch_handler

    async def _next_batch(self) -> dict[TP, list[Any]] | None:
        """Wait for records, then keep collecting what arrives while the previous batch is
        still being applied and for ``batch_max_wait_ms`` (up to the batch cap, which
        ``next_cap`` then moves): one batch, all from one group generation."""
        generation = self.app.consumer_generation_id
        limit = self.fetch_room = self._cap
        records, active = await self._wait_next_records(1.0)
        if not records:
            return None
        batch: dict[TP, list[Any]] = {tp: list(recs) for tp, recs in records.items()}
        size = sum(len(r) for r in batch.values())
        deadline = time.monotonic() + tuned(self.tuning, "batch_max_wait_ms") / 1000.0
        while size < limit and self.flow_active:
            left = deadline - time.monotonic()
            if self._idle.is_set() and left <= 0:
                break
            # While the previous batch is still being applied, keep collecting: the batch
            # grows with the load (fewer per-batch costs) without delaying anything.
            wait = min(left, 0.01) if not self._idle.is_set() else left
            self.fetch_room = limit - size
            more, active = await self._wait_next_records(max(wait, 0.001))
            for tp, recs in (more or {}).items():
                batch.setdefault(tp, []).extend(recs)
                size += len(recs)
        self._cap = next_cap(limit, size, self._min_cap(), self._max_cap())
        if not self.flow_active or generation != self.app.consumer_generation_id:
            # Fetched across a rebalance: drop, and read again from the committed offsets.
            logger.debug("dropping a fetch made across a rebalance")
            await self._seek_back()
            return None
        if active is None:
            return batch
        return {tp: recs for tp, recs in batch.items() if tp in active}

    async def _seek_back(self) -> None:
        try:
            await self.perform_seek()
        except Exception as exc:  # the next rebalance resets positions anyway
            logger.warning("seek to committed offsets failed: %r", exc)

    async def _handle(self, batch: dict[TP, Span], prepared: Any) -> None:
        handler = self._require_handler()
        self._idle.clear()
        try:
            await self._run_to_end(handler.apply(prepared), batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._fail(exc)
            return
        finally:
            self._idle.set()
        handler.on_lag(self._lag(batch))
        await self.saver.after_batch()

    async def _fail(self, exc: BaseException) -> None:
        if self._fatal is not None:
            return
        self._fatal = exc
        logger.critical("batch failed and was not acked, stopping the worker: %s", exc)
        await self.app.crash(exc)

    async def _final_flush(self) -> None:
        since = time.monotonic()
        await self.saver.final(lambda: self.stop_time_left(self.finish_timeout_s, since))

    def stop_time_left(self, own_s: float, since: float) -> float:
        """Seconds a step of the stop that needs the broker, begun at ``since``
        (``time.monotonic()``), may still wait: what is left of ``own_s``; while the
        dependency probe finds the broker down, no more than what is left of
        ``outage_stop_timeout_s`` from the stop's first such step. Nothing sent or committed
        gets through then, and giving up loses nothing: the final save is not made (its
        readings stay unacked), offsets stay uncommitted (their readings are read again and
        skipped as replays), and a message that was not delivered belongs to a reading
        whose state was not saved (it is applied, and the message sent, again)."""
        now = time.monotonic()
        if self._stop_began is None:
            self._stop_began = since
        left = since + own_s - now
        if not self.broker_reachable():
            left = min(left, self._stop_began + self.outage_stop_timeout_s - now)
        return max(0.0, left)

    def _lag(self, batch: Mapping[TP, Span]) -> int:
        lag = 0
        for tp, span in batch.items():
            try:
                lag += max(0, self.highwater(tp) - span.last - 1)
            except Exception:  # highwater unknown before the first fetch response
                continue
        return lag

    async def _run_to_end(self, work: Awaitable[None], batch: dict[TP, Span]) -> None:
        """Await the handler; if we are cancelled (the worker stops), let the batch finish
        (bounded), so the final flush and commit include it."""
        task = asyncio.ensure_future(work)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                logger.info("stopping: finishing the batch in flight")
                try:
                    await asyncio.wait_for(asyncio.shield(task), self.finish_timeout_s)
                except (asyncio.TimeoutError, asyncio.CancelledError):
                    task.cancel()
            if task.done() and not task.cancelled() and task.exception() is None:
                self.saver.applied(batch)
            raise
        self.saver.applied(batch)

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """faust's commit of the acked offsets; once the worker is stopping, bounded by
        ``stop_time_left``. While the broker is down aiokafka retries a commit until the
        group coordinator answers again, and faust's stop waits for it (and for the periodic
        commit already stuck the same way): the worker would not exit until the broker came
        back. Giving up is safe: only offsets whose states are saved were acked, and a
        reading whose offset was not committed is read again and skipped as a replay (its
        stream's stored offset is past it)."""
        work = super().commit(topics, start_new_transaction=start_new_transaction)
        if not self.app.should_stop:
            return await work
        since = time.monotonic()
        done = await bounded(work, lambda: self.stop_time_left(self.stop_step_timeout_s, since))
        if done is not None:
            return done[0]
        if not self._commit_given_up:
            self._commit_given_up = True
            logger.warning(
                "stopping: offsets not committed (broker unreachable?); their readings "
                "will be read again and skipped as replays"
            )
        return False

    def ack_spans(self, batch: Mapping[TP, Span]) -> None:
        """Mark every offset of the batch acked in faust's table (with holes in between
        filled, e.g. compacted or transaction-marker offsets)."""
        for tp, span in batch.items():
            first, last = span.first, span.last
            committed = self._committed_offset[tp]
            read = self._read_offset[tp]
            start = first
            if read is not None and read < first:
                start = read + 1
            elif committed is not None and committed < first:
                start = committed
            if committed is not None:
                start = max(start, committed)
            index = self._acked_index[tp]
            new = [o for o in range(start, last + 1) if o not in index]
            index.update(new)
            self._acked[tp].extend(new)
            self._n_acked += len(new)
            self._read_offset[tp] = last

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Finish the in-flight batch, commit it, drop hot state, then faust's revocation."""
        self._revocations += 1  # a batch fetched before this point is not applied
        await self._idle.wait()
        if revoked:
            await self.saver.save()
            try:
                await self.commit()
            except Exception as exc:  # the stored offsets make a replay harmless
                logger.warning("commit on revocation failed: %r", exc)
            if self.batch_handler is not None:
                self.batch_handler.on_revoked(revoked)
            logger.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        if self.batch_handler is not None:
            self.batch_handler.on_assigned(assigned)
        logger.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))
        await super().on_partitions_assigned(assigned, generation_id)


class BatchTransport(faust_aiokafka.Transport):
    """The aiokafka transport with ``BatchConsumer`` and ``StopBoundedProducer``."""

    Consumer = BatchConsumer
    Producer = StopBoundedProducer


def tuned_transport(tuning: Mapping[str, int]) -> type[BatchTransport]:
    """A transport class whose consumers use these settings (``fetch_max_wait_ms``,
    ``fetch_max_bytes``, ``batch_max_wait_ms``, ``save_interval_ms``,
    ``max_unsaved_records``)."""
    consumer_cls = type("TunedBatchConsumer", (BatchConsumer,), {"tuning": dict(tuning)})
    return cast(
        type[BatchTransport],
        type("TunedBatchTransport", (BatchTransport,), {"Consumer": consumer_cls}),
    )
