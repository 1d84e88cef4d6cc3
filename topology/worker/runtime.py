"""The worker's batch handler: the pipeline plus metrics, health and the Kafka publisher."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

from faust.types import TP

from tcnad.topology.settings import GC_GEN1_THRESHOLD
from tcnad.topology.wire.decode import RawRecord
from tcnad.topology.worker.batch import BatchOutcome, OutMessage, PreparedBatch
from tcnad.topology.worker.metrics import Health, WorkerMetrics
from tcnad.topology.worker.pipeline import BatchPipeline

logger = logging.getLogger(__name__)


def tune_gc(gen0_threshold: int) -> None:
    """Make the garbage collector cheap and its pauses short (``gen0_threshold`` 0: leave it).

    A batch allocates a few objects per reading (records, readings, messages), and the
    readings stay alive until the save that covers them (they are its unsaved readings,
    saver.py), so nearly everything a young collection traverses survives it: a pause costs
    about ``gen0_threshold`` objects' worth of traversal, whatever is collected. Freezing
    what is alive at start takes the model, torch and faust out of every collection;
    ``gen0_threshold`` sets the size of a young pass (docs/architecture.md, "Garbage
    collector", gives the pauses), and ``GC_GEN1_THRESHOLD`` young passes go by before the
    middle generation, which holds every reading awaiting its save, is traversed again.
    Reference counting still frees almost everything at once; only cyclic garbage waits for
    a collection."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, GC_GEN1_THRESHOLD, gc.get_threshold()[2])
    logger.info("gc: froze %d objects, thresholds %s", gc.get_freeze_count(), gc.get_threshold())


LOOP_LAG_PROBE_S = 0.05


async def watch_loop_lag(metrics: WorkerMetrics, probe_s: float = LOOP_LAG_PROBE_S) -> None:
    """Until cancelled: sleep ``probe_s`` and record how late the loop woke up
    (``tcnad_event_loop_lag_seconds``). A reading whose fetch or batch falls due while the
    loop is busy waits about as long."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + probe_s
        await asyncio.sleep(probe_s)
        metrics.loop_lag.observe(max(0.0, loop.time() - due))


class GcPauses:
    """Pauses of this process's garbage collector, timed by a ``gc.callbacks`` hook.

    The hook only appends to a deque (no lock: a collection can start inside any
    allocation, even one made while a metrics lock is held); the worker's runtime moves the
    pauses into its metrics after each batch."""

    def __init__(self) -> None:
        self._start = 0.0
        self._done: deque[tuple[int, float]] = deque(maxlen=4096)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self._done.append((int(info["generation"]), time.perf_counter() - self._start))

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def drain(self) -> list[tuple[int, float]]:
        """The pauses since the last call: ``(generation, seconds)``."""
        out = []
        while self._done:
            out.append(self._done.popleft())
        return out


GC_PAUSES = GcPauses()  # installed by the worker command (``watch_gc``)


def watch_gc() -> None:
    """Time every collection of this process (``tcnad_gc_pause_seconds``)."""
    GC_PAUSES.install()


class FaustPublisher:
    """Publishes through the faust app's producer; the caller awaits the acks."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def send(self, messages: Sequence[OutMessage]) -> Awaitable[object]:
        producer = self.app.producer
        futures = [await producer.send(m.topic, m.key, m.value, None, None, None) for m in messages]
        return asyncio.gather(*futures)


class WorkerRuntime:
    """``BatchConsumer``'s handler: runs a batch through the pipeline and records it."""

    def __init__(self, pipeline: BatchPipeline, metrics: WorkerMetrics, health: Health) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.health = health
        self.batches = 0
        self._revoked: set[int] = set()

    def prepare(self, records: Sequence[RawRecord]) -> PreparedBatch:
        return self.pipeline.prepare(records)

    async def apply(self, prepared: PreparedBatch) -> None:
        t0 = time.perf_counter()
        try:
            out = await self.pipeline.apply(prepared)
        except Exception as exc:
            self.health.failed = f"{type(exc).__name__}: {exc}"
            raise
        self._record(out, time.perf_counter() - t0 + prepared.decode_s)
        if prepared.oldest_ms is not None:
            oldest = prepared.oldest_ms / 1000
            self.metrics.fetch_age.observe(max(0.0, prepared.received - oldest))
            self.metrics.record_age.observe(max(0.0, time.time() - oldest))

    async def flush(self) -> None:
        """Save the states stepped so far (``StreamSaver.flush``) and record the save."""
        try:
            out = await self.pipeline.saver.flush()
        except Exception as exc:
            self.health.failed = f"{type(exc).__name__}: {exc}"
            raise
        m = self.metrics
        if out.save_s:
            m.save_latency.observe(out.save_s)
        m.saved.inc(out.saved)
        m.fenced.inc(out.fenced)
        m.regressions.inc(out.regressions)
        m.alerts.inc(out.alerts)  # alerts of readings applied again after a fenced save

    def _record(self, out: BatchOutcome, seconds: float) -> None:
        m = self.metrics
        m.records.inc(out.records)
        m.readings.inc(out.applied)
        m.replays.inc(out.replays)
        m.alerts.inc(out.alerts)
        m.fenced.inc(out.fenced)
        m.loaded.inc(out.loaded)
        for reason, n in out.dead.items():
            m.dead.labels(reason).inc(n)
        m.batch_size.observe(out.records)
        m.batch_latency.observe(seconds)
        m.stage["decode"].inc(out.decode_s)
        m.stage["load"].inc(out.load_s)
        m.stage["step"].inc(out.step_s)
        m.stage["publish"].inc(out.publish_s)
        for generation, pause in GC_PAUSES.drain():
            m.gc_pause.labels(str(generation)).observe(pause)
        if out.loaded:
            m.load_latency.observe(out.load_s)
        m.hot_streams.set(len(self.pipeline.hot))
        now = time.time()
        m.last_batch.set(now)
        self.health.last_batch = now
        self.batches += 1
        skipped = {"replayed": out.replays, **out.dead} if out.replays or out.dead else {}
        if skipped:
            logger.info(
                "batch skipped readings=%d %s",
                sum(skipped.values()),
                " ".join(f"{reason}={n}" for reason, n in sorted(skipped.items()) if n),
            )
        logger.debug(
            "batch records=%d applied=%d replays=%d alerts=%d dead=%d fenced=%d took=%.1fms",
            out.records,
            out.applied,
            out.replays,
            out.alerts,
            sum(out.dead.values()),
            out.fenced,
            seconds * 1e3,
        )

    def on_revoked(self, partitions: Iterable[TP]) -> None:
        """Partitions are being taken away (with the eager protocol: all of them). Their
        hot copies are dropped once the new assignment is known, except for partitions
        that come straight back: those were saved and nobody else owned them meanwhile."""
        self._revoked |= {tp.partition for tp in partitions}

    def on_assigned(self, partitions: Iterable[TP]) -> None:
        owned = {tp.partition for tp in partitions}
        gone = sorted(self._revoked - owned)
        self._revoked = set()
        dropped = self.pipeline.keep_partitions(owned)
        self.metrics.hot_streams.set(len(self.pipeline.hot))
        self.health.assigned = sorted(owned)
        logger.info(
            "assigned partitions=%s revoked=%s dropped_hot_streams=%d",
            sorted(owned),
            gone,
            dropped,
        )

    def on_lag(self, lag: int) -> None:
        self.metrics.lag.set(lag)
