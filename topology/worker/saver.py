"""The write-behind save: what waits for a save, the save itself, and what it lets commit.

Batches are applied (streams stepped, alerts, scores and dead letters sent) without waiting
for the broker's acks or for Redis; a saver task saves behind them, at most every
``save_interval_ms``. Exactly-once per stream rests on this order: the acks of every message
sent before a save's snapshot are awaited -> the snapshot's streams are saved, fenced per
stream -> only then are the offsets of the batches that save covers acked to faust, which
commits them (docs/architecture.md, "Batch pipeline" and "Delivery and recovery").

*Unsaved* means one thing throughout the worker: applied since the save that will cover it
began. It is kept in two forms, because two different things are done with it:

- per stream, the unsaved *readings* (``HotEntry.unsaved``, kept by ``UnsavedStreams`` in
  unsaved.py and saved by ``StreamSaver``): a save reads the changed state of every stream
  that has some (a *dirty* stream) out of the pool, and when a stream's save is fenced its
  readings are applied again on the newer stored state.
- per batch, the unsaved *offsets* (a ``Span`` per partition, ``Saver``): when a save
  returns, the batches applied before it began become committable. They count every
  record, replays and dead letters included: that count is bounded by
  ``max_unsaved_records`` (back-pressure: the consumer saves before its next batch).

``Saver`` takes its batches before it calls the flush, which takes its snapshot after, so a
save holds every step of the batches it acks (and perhaps some of later ones).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from faust.types import TP

from tcnad.state.types import CacheStore, SaveResult
from tcnad.topology.wire.decode import Decoded
from tcnad.topology.worker.batch import BatchOutcome, PipelineConfig, retry_store
from tcnad.topology.worker.unsaved import Settled, Snapshot, UnsavedStreams

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Streams whose deltas a save reads out of the pool in one piece, under the lock: no batch
# is applied meanwhile, so a piece must stay short (docs/architecture.md, "Batch pipeline").
SNAPSHOT_CHUNK = 128


@dataclass(frozen=True, slots=True)
class Span:
    """The offsets a batch took from one partition: first and last, and how many records."""

    first: int
    last: int
    count: int


class Saver:
    """The consumer's saver task: runs ``flush`` (the batch handler's) behind the batches,
    and when it returns ``ack`` s the batches applied before it began. ``fail`` stops the
    worker after a failed flush; once ``stopped()`` (the worker failed) nothing more is
    saved or acked."""

    def __init__(
        self,
        flush: Callable[[], Awaitable[None]],
        ack: Callable[[Mapping[TP, Span]], None],
        fail: Callable[[BaseException], Awaitable[None]],
        stopped: Callable[[], bool],
        interval_s: float,
        max_unsaved_records: int,
    ) -> None:
        self._flush, self._ack, self._fail, self._stopped = flush, ack, fail, stopped
        self.interval_s = interval_s
        self.max_unsaved_records = max_unsaved_records
        self.unsaved: list[dict[TP, Span]] = []  # the unsaved offsets: not acked
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def unsaved_records(self) -> int:
        return sum(span.count for batch in self.unsaved for span in batch.values())

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def applied(self, batch: dict[TP, Span]) -> None:
        """A batch was applied: its offsets wait for a save."""
        self.unsaved.append(batch)

    async def after_batch(self) -> None:
        """Wake the saver task; at ``max_unsaved_records`` save now (back-pressure: the
        store is slower than the input)."""
        self._wake.set()
        if self.unsaved_records >= self.max_unsaved_records:
            await self.save()

    async def _run(self) -> None:
        """Save when batches were applied since the last save, at most every
        ``interval_s`` (fewer, larger saves: each costs per stream, not per reading)."""
        while not self._stopped():
            await self._wake.wait()
            self._wake.clear()
            started = time.monotonic()
            await self.save()
            left = self.interval_s - (time.monotonic() - started)
            if left > 0:
                await asyncio.sleep(left)

    async def save(self) -> bool:
        """Flush, then ack the batches applied before the flush began. False on failure
        (the worker then stops; nothing unsaved was acked)."""
        if self._stopped():
            return False
        batches, self.unsaved = self.unsaved, []
        try:
            await self._flush()
        except asyncio.CancelledError:
            self.unsaved = batches + self.unsaved
            raise
        except Exception as exc:
            await self._fail(exc)
            return False
        if self._stopped():
            return False  # a batch failed meanwhile: the worker stops, nothing more is acked
        for batch in batches:
            self._ack(batch)
        return True

    async def final(self, time_left: Callable[[], float]) -> None:
        """On stop: save and ack what was applied, for as long as ``time_left()`` is
        positive (asked again and again), so the last commit has it. Also waits for a save
        in flight (the flush lock), whose batches its round then acks."""
        if self._stopped():
            return
        try:
            done = await bounded(self.save(), time_left)
        except asyncio.CancelledError:
            done = None
        if done is None:
            logger.warning("stopping: the last save did not finish; it will be replayed")


BOUNDED_POLL_S = 0.25


async def bounded(
    work: Awaitable[T], time_left: Callable[[], float], poll_s: float = BOUNDED_POLL_S
) -> tuple[T] | None:
    """``(result,)`` of ``work`` if it ends while ``time_left()`` (asked every ``poll_s``)
    is positive, else None. ``work`` is not cancelled, by the timeout or by a cancellation
    of the caller: it goes on, and its outcome is then dropped unlogged (faust's commit,
    for one, swallows a cancellation while it waits for the commit in flight)."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            left = time_left()
            if left <= 0:
                return None
            await asyncio.wait({task}, timeout=min(left, poll_s))
        return (task.result(),)
    finally:
        if not task.done():
            task.add_done_callback(_drop_outcome)


def _drop_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at exit


class FencedTooOften(RuntimeError):
    """A stream's save stayed fenced after every re-application: another worker keeps
    writing it. The batch is not acked; the worker stops so its readings are replayed."""


class UnsavedStepsLost(RuntimeError):
    """A failed batch took with it steps of earlier batches that were not saved yet: those
    batches must not be acked (the worker stops and their readings are replayed)."""


Reapply = Callable[[dict[str, list[Decoded]], BatchOutcome], Awaitable[None]]


class StreamSaver:
    """The pipeline's side: saves the dirty streams, fenced, after the acks of what they sent.

    The pipeline reports what a batch stepped (to ``unsaved``) and sent (``sent``) while it
    holds ``lock``, so a save's snapshot never falls between a batch's step and the sending
    of its alerts (an alert is acknowledged before the state that made it is saved).
    ``reapply`` applies fenced streams' readings again (the lock is held)."""

    def __init__(
        self,
        unsaved: UnsavedStreams,
        store: CacheStore,
        config: PipelineConfig,
        lock: asyncio.Lock,
        reapply: Reapply,
    ) -> None:
        self.unsaved, self.store, self.config = unsaved, store, config
        self._lock = lock
        self._reapply = reapply
        self._flush_lock = asyncio.Lock()  # one save in flight
        self._unacked: list[Awaitable[object]] = []  # sent; acks not yet awaited by a save
        self._broken: BaseException | None = None

    def sent(self, acks: Awaitable[object]) -> None:
        """Messages were sent; the next save waits for ``acks`` before it saves."""
        self._unacked.append(acks)

    def lost(self, exc: BaseException) -> None:
        """Unsaved steps were lost with ``exc``: every later ``flush`` raises."""
        self._broken = exc

    def check_usable(self) -> None:
        if self._broken is not None:
            raise UnsavedStepsLost(
                "a failed batch lost steps of earlier batches that were not saved; "
                "restart from the committed offsets"
            ) from self._broken

    async def flush(self) -> BatchOutcome:
        """Wait for the broker's acks of the messages sent so far, then save every stream
        stepped before this call (one fenced round trip). Fenced streams are reloaded,
        their unsaved readings applied again and saved once more. Raises ``StoreGaveUp``
        (the steps stay unsaved), ``FencedTooOften``, ``UnsavedStepsLost`` or the
        producer's error; then nothing applied since the last successful flush may be
        acked."""
        out = BatchOutcome()
        async with self._flush_lock:
            for attempt in range(self.config.fenced_retries + 1):
                snap = await self._take_snapshot()
                await self._acked(snap)
                if not snap.streams:
                    return out
                result = await self._save(snap, out)
                async with self._lock:
                    settled = self._settle(snap, set(result.fenced), out)
                    if not settled.again:
                        return out
                    await self._apply_fenced(settled, attempt, out)
        raise AssertionError("unreachable")

    async def _take_snapshot(self) -> Snapshot:
        """Take every stream dirty now, ``SNAPSHOT_CHUNK`` at a time, each chunk under the
        lock, the event loop free in between. A batch applied in between steps streams not
        taken yet (taken with those steps) or makes taken ones dirty again (for the next
        save), as a batch applied while a save is in flight does."""
        async with self._lock:
            self.check_usable()
            todo = list(self.unsaved.dirty)
            snap = self.unsaved.take(todo[:SNAPSHOT_CHUNK])
        try:
            for lo in range(SNAPSHOT_CHUNK, len(todo), SNAPSHOT_CHUNK):
                await asyncio.sleep(0)
                async with self._lock:
                    self.check_usable()
                    snap.extend(self.unsaved.take(todo[lo : lo + SNAPSHOT_CHUNK]))
        except BaseException:
            # No await here: a second cancellation cannot lose the streams taken so far.
            self.unsaved.put_back(snap)
            raise
        return snap

    async def _acked(self, snap: Snapshot) -> None:
        """Wait until the broker acknowledged the alerts, scores and dead letters of every
        batch in ``snap`` (sent when the batches were applied). If one was not, the readings
        that made it must be read again: nothing applied so far may be saved or acked."""
        async with self._lock:
            # After the last chunk: the messages of every step the snapshot holds.
            unacked, self._unacked = self._unacked, []
        if not unacked:
            return
        try:
            # Shielded: a cancelled flush must not cancel the producer's deliveries, which
            # a later flush waits for again.
            await asyncio.shield(asyncio.gather(*unacked))
        except asyncio.CancelledError:
            async with self._lock:
                self._unacked = unacked + self._unacked
                self.unsaved.put_back(snap)
            raise
        except BaseException as exc:
            async with self._lock:
                self.unsaved.put_back(snap)
            self._broken = exc
            raise

    async def _save(self, snap: Snapshot, out: BatchOutcome) -> SaveResult:
        """Save the snapshot (retried); if that fails its streams are dirty again."""
        try:
            t0 = time.perf_counter()
            result = await retry_store(
                functools.partial(self.store.save, snap.updates), "save", self.config
            )
            out.save_s += time.perf_counter() - t0
        except BaseException:
            async with self._lock:
                self.unsaved.put_back(snap)
            raise
        return result

    def _settle(self, snap: Snapshot, fenced: set[str], out: BatchOutcome) -> Settled:
        """Record a save's outcome (the lock is held); raises if a fenced stream's readings
        were lost with its hot copy (this flush must not count)."""
        settled = self.unsaved.settle(snap, fenced, out)
        if settled.orphaned and self._broken is None:
            self._broken = UnsavedStepsLost(
                f"stream {settled.orphaned[0]!r} was fenced after its hot copy was dropped"
            )
        self.check_usable()
        return settled

    async def _apply_fenced(self, settled: Settled, attempt: int, out: BatchOutcome) -> None:
        """Apply the fenced streams' readings again on their reloaded states (the lock is
        held), or give up after ``fenced_retries`` attempts."""
        fenced = settled.again
        out.fenced += len(fenced)
        logger.warning(
            "fenced save: streams=%d attempt=%d; reloading and applying again",
            len(fenced),
            attempt + 1,
        )
        if attempt == self.config.fenced_retries:
            self.unsaved.forget(list(fenced))
            raise FencedTooOften(
                f"{len(fenced)} stream(s) stayed fenced after "
                f"{self.config.fenced_retries} re-applications (e.g. "
                f"{next(iter(fenced))!r}); another worker keeps writing them"
            )
        try:
            await self._reapply(fenced, out)
        except BaseException as exc:
            # Their unsaved readings were taken out of the pool: nothing applied before
            # this flush may be acked any more.
            self._broken = exc
            raise
        self._check_regressions(settled.saved_before, out)

    def _check_regressions(
        self, saved_before: dict[str, tuple[int, int]], out: BatchOutcome
    ) -> None:
        """After fenced streams were reloaded: a stored step below the one this worker had
        saved (``saved_before``: step, offset) means Redis lost acknowledged writes (a host
        crash under ``appendfsync everysec``); the readings in between are missing from the
        state. Steps, not offsets, decide: a stream's offsets restart on a new source.
        Counted and logged: docs/architecture.md, "Durability", says how to re-read them."""
        for stream, (step, offset) in saved_before.items():
            entry = self.unsaved.hot.get(stream)
            if entry is not None and entry.saved_step < step:
                out.regressions += 1
                logger.error(
                    "stored state of stream %r went back: step %d (offset %d) is stored, "
                    "step %d (offset %d) was saved; %d readings are missing from it (Redis "
                    "lost acknowledged writes?)",
                    stream,
                    entry.saved_step,
                    entry.saved_offset,
                    step,
                    offset,
                    step - entry.saved_step,
                )
