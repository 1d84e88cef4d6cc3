"""Batches of raw readings through the detector: plain classes, no broker needed.

Order (docs/architecture.md, "Delivery and recovery"). ``apply``: decode + validate (bad ->
dead letters) -> group by stream -> load the states of streams not hot (one store round
trip) -> skip replays (offset <= the stream's last applied offset), dead-letter readings
whose timestamp is not after the stream's last -> step the detector in rounds (round r = the
r-th reading of each stream) -> alerts -> send alerts, scores and dead letters to the
producer. ``flush``, which may run while later batches are applied: wait for the broker's
acks of everything sent so far, then save every stream stepped since the last save (one
round trip, fenced). Streams whose save was fenced lose their hot copy and their unsaved
readings are applied again on top of the stored state (the replay rule makes that exact).
A batch's offsets may be acked only once a ``flush`` begun after its ``apply`` returned has
returned.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import time
from collections.abc import Awaitable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from tcnad.detector.engine import StreamDetector
from tcnad.detector.state import StreamState
from tcnad.state.types import CacheStore, StreamUpdate
from tcnad.topology.wire.decode import Decoded, RawRecord, dead_letter, decode_batch
from tcnad.topology.wire.schemas import DeadLetter
from tcnad.topology.worker.hotcache import HotCache, HotEntry
from tcnad.topology.worker.ports import OutMessage, Publisher
from tcnad.topology.worker.retry import retry_store
from tcnad.topology.worker.rounds import (
    StepPlan,
    build_alerts,
    build_scores,
    group_by_stream,
    step_rounds,
)

logger = logging.getLogger(__name__)

NOT_AFTER_LAST = "not_after_last"
# Streams whose deltas a save reads out of the pool in one piece (under the lock): a save
# of 1,000 streams 40 steps after the last one read them in 24-125 ms at once, time in
# which no batch could be applied; 128 streams take ~2 ms.
SNAPSHOT_CHUNK = 128


class FencedTooOften(RuntimeError):
    """A stream's save stayed fenced after every re-application: another worker keeps
    writing it. The batch is not acked; the worker stops so its readings are replayed."""


@dataclass(frozen=True)
class PreparedBatch:
    """A decoded batch: readings grouped by stream (arrival order) and dead letters."""

    records: int
    groups: dict[str, list[Decoded]]
    dead: list[DeadLetter]
    decode_s: float
    oldest_ms: int | None = None  # the earliest Kafka record timestamp of the batch
    received: float = 0.0  # when the batch was handed over for decoding (Unix time)


@dataclass
class BatchOutcome:
    """What one ``process`` call did (counters for metrics and tests)."""

    records: int = 0
    applied: int = 0
    saved: int = 0
    regressions: int = 0
    replays: int = 0
    alerts: int = 0
    dead: dict[str, int] = field(default_factory=dict)
    fenced: int = 0
    loaded: int = 0
    decode_s: float = 0.0
    load_s: float = 0.0
    step_s: float = 0.0
    publish_s: float = 0.0
    save_s: float = 0.0
    dead_seen: set[tuple[int, int]] = field(default_factory=set, repr=False)

    def new_dead(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Count and return the letters not yet sent in this batch (a re-application
        after a fenced save decides the same readings again)."""
        fresh = []
        for d in letters:
            key = (d.partition, d.offset)
            if key not in self.dead_seen:
                self.dead_seen.add(key)
                self.dead[d.reason] = self.dead.get(d.reason, 0) + 1
                fresh.append(d)
        return fresh


@dataclass(frozen=True)
class PipelineConfig:
    alerts_topic: str = "alerts"
    dlq_topic: str = "readings-dlq"
    scores_topic: str = ""
    store_retries: int = 6
    store_backoff_s: float = 0.2
    store_backoff_max_s: float = 5.0
    fenced_retries: int = 3


class UnsavedStepsLost(RuntimeError):
    """A failed batch took with it steps of earlier batches that were not saved yet: those
    batches must not be acked (the worker stops and their readings are replayed)."""


@dataclass
class _Snapshot:
    """The dirty streams taken by one save: their entries, updates and readings."""

    streams: list[str]
    entries: list[HotEntry]
    updates: list[StreamUpdate]
    readings: list[list[Decoded]]

    def extend(self, part: _Snapshot) -> None:
        self.streams += part.streams
        self.entries += part.entries
        self.updates += part.updates
        self.readings += part.readings


class BatchPipeline:
    """Applies batches of raw records to the streams' states, exactly once per reading.

    Applying and saving are separate (write-behind): ``apply`` steps a batch and sends its
    alerts; ``flush`` waits for the acks of what was sent, then saves every stream stepped
    since the last save in one fenced round trip (so the next batch need not wait for the
    broker's acks). A batch may be acked once a ``flush`` that began after its ``apply``
    returned has returned. ``process`` is the two together. While a save is in flight, the
    next batches are applied; a stream keeps the readings applied since its last save, so a
    fenced save can re-apply them on top of the newer stored state. An ``asyncio.Lock`` keeps
    a save's snapshot from falling between a batch's step and the sending of its alerts (an
    alert is acknowledged by the broker before the state that made it is saved).
    """

    def __init__(
        self,
        detector: StreamDetector,
        store: CacheStore,
        publisher: Publisher,
        hot: HotCache,
        config: PipelineConfig,
    ) -> None:
        self.detector = detector
        self.store = store
        self.publisher = publisher
        self.hot = hot
        self.config = config
        self.width = int(detector.spec.n_inputs)
        self._lock = asyncio.Lock()  # state changes: apply, save snapshot, save outcome
        self._flush_lock = asyncio.Lock()  # one save in flight
        self._dirty: dict[str, HotEntry] = {}  # stepped since their last save snapshot
        self._saving: set[str] = set()  # in the save in flight
        self._unacked: list[Awaitable[object]] = []  # sent messages whose acks are not awaited
        self._broken: BaseException | None = None

    @property
    def dirty(self) -> int:
        """Streams with steps not yet handed to a save."""
        return len(self._dirty)

    async def process(self, records: Sequence[RawRecord]) -> BatchOutcome:
        """Decode, score, publish and save one batch. Raises on store or publish failure
        (after bounded retries): the batch must then not be acked."""
        out = await self.apply(self.prepare(records))
        saved = await self.flush()
        out.fenced += saved.fenced
        out.regressions += saved.regressions
        out.save_s += saved.save_s
        out.alerts += saved.alerts
        return out

    def prepare(self, records: Sequence[RawRecord]) -> PreparedBatch:
        """Decode and group by stream (no state needed, so it may run ahead)."""
        received, t0 = time.time(), time.perf_counter()
        decoded, dead = decode_batch(records, self.width)
        groups = group_by_stream(decoded)
        oldest = min((r.timestamp_ms for r in records if r.timestamp_ms is not None), default=None)
        took = time.perf_counter() - t0
        return PreparedBatch(len(records), groups, dead, took, oldest, received)

    async def apply(self, prepared: PreparedBatch) -> BatchOutcome:
        """Score and publish a prepared batch; its states are saved by a later ``flush``.

        On failure the steps of the failed batch are forgotten; if that also lost steps of
        earlier batches that were not saved yet, every later ``flush`` raises
        ``UnsavedStepsLost``."""
        out = BatchOutcome(records=prepared.records, decode_s=prepared.decode_s)
        groups = prepared.groups
        pending_dead = list(prepared.dead)
        streams = list(groups)
        for lo in range(0, len(streams), self.hot.capacity):
            chunk = {s: groups[s] for s in streams[lo : lo + self.hot.capacity]}
            await self._room_for(chunk)
            async with self._lock:
                self._check_usable()
                await self._apply_guarded(chunk, pending_dead, out)
            pending_dead = []
        if pending_dead:
            await self._publish([], pending_dead, out)
        return out

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
                async with self._lock:
                    # After the last chunk: the messages of every step the snapshot holds.
                    unacked, self._unacked = self._unacked, []
                await self._acked(unacked, snap)
                if not snap.streams:
                    return out
                try:
                    t0 = time.perf_counter()
                    result = await retry_store(
                        functools.partial(self.store.save, snap.updates), "save", self.config
                    )
                    out.save_s += time.perf_counter() - t0
                except BaseException:
                    async with self._lock:
                        self._unsnapshot(snap)
                    raise
                async with self._lock:
                    fenced, saved_before = self._settle(snap, set(result.fenced), out)
                    if not fenced:
                        return out
                    out.fenced += len(fenced)
                    logger.warning(
                        "fenced save: streams=%d attempt=%d; reloading and applying again",
                        len(fenced),
                        attempt + 1,
                    )
                    if attempt == self.config.fenced_retries:
                        self._forget(list(fenced))
                        raise FencedTooOften(
                            f"{len(fenced)} stream(s) stayed fenced after "
                            f"{self.config.fenced_retries} re-applications (e.g. "
                            f"{next(iter(fenced))!r}); another worker keeps writing them"
                        )
                    try:
                        await self._apply_guarded(fenced, [], out)
                    except BaseException as exc:
                        # Their unsaved readings were taken out of the pool: nothing
                        # applied before this flush may be acked any more.
                        self._broken = exc
                        raise
                    self._check_regressions(saved_before, out)
        raise AssertionError("unreachable")

    async def _acked(self, unacked: list[Awaitable[object]], snap: _Snapshot) -> None:
        """Wait until the broker acknowledged the alerts, scores and dead letters of every
        batch in ``snap`` (sent when the batches were applied). If one was not, the readings
        that made it must be read again: nothing applied so far may be saved or acked."""
        if not unacked:
            return
        try:
            # Shielded: a cancelled flush must not cancel the producer's deliveries, which
            # a later flush waits for again.
            await asyncio.shield(asyncio.gather(*unacked))
        except asyncio.CancelledError:
            async with self._lock:
                self._unacked = unacked + self._unacked
                self._unsnapshot(snap)
            raise
        except BaseException as exc:
            async with self._lock:
                self._unsnapshot(snap)
            self._broken = exc
            raise

    def _check_regressions(self, saved_before: dict[str, int], out: BatchOutcome) -> None:
        """After fenced streams were reloaded: a stored offset below the one this worker had
        saved (``saved_before``) means Redis lost acknowledged writes (a host crash under
        ``appendfsync everysec``); the readings in between are missing from the state.
        Counted and logged: docs/architecture.md, "Durability", says how to re-read them."""
        for stream, saved in saved_before.items():
            entry = self.hot.get(stream)
            if entry is not None and entry.saved_offset < saved:
                out.regressions += 1
                logger.error(
                    "stored state of stream %r went back: offset %d is stored, %d was "
                    "saved; readings of offsets %d..%d are missing from it (Redis lost "
                    "acknowledged writes?)",
                    stream,
                    entry.saved_offset,
                    saved,
                    entry.saved_offset + 1,
                    saved,
                )

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise UnsavedStepsLost(
                "a failed batch lost steps of earlier batches that were not saved; "
                "restart from the committed offsets"
            ) from self._broken

    async def _room_for(self, chunk: dict[str, list[Decoded]]) -> None:
        """Wait for saves until the chunk's cold streams fit without evicting a stream
        whose steps are not saved."""
        hot = self.hot
        while True:
            need = sum(1 for s in chunk if s not in hot)
            if hot.capacity - len(hot) >= need:
                return
            pinned = self._pinned(chunk)
            evictable = sum(1 for s in hot if s not in pinned)
            if hot.capacity - len(hot) + evictable >= need:
                return
            if not self._dirty and not self._saving:
                return  # nothing to wait for; admission reports it
            await self.flush()

    def _pinned(self, groups: Collection[str]) -> set[str]:
        """Streams that must not be evicted: the batch's and those with unsaved steps."""
        return {*groups, *self._dirty, *self._saving}

    async def _apply_guarded(
        self, groups: dict[str, list[Decoded]], dead: list[DeadLetter], out: BatchOutcome
    ) -> None:
        """``_apply_core`` with failure handling (the lock is held)."""
        earlier = [s for s in groups if s in self._dirty and self._dirty[s].unsaved]
        try:
            await self._apply_core(groups, dead, out)
        except BaseException as exc:
            # The pool may hold steps whose alerts were not published: forget them.
            self._forget(list(groups))
            if earlier:
                self._broken = exc
            raise

    async def _apply_core(
        self, groups: dict[str, list[Decoded]], dead: list[DeadLetter], out: BatchOutcome
    ) -> None:
        """Load, step and publish ``groups`` (the lock is held)."""
        await self._ensure_hot(groups, out)
        plan = self._plan(groups, dead, out)
        t0 = time.perf_counter()
        results = step_rounds(self.detector, plan)
        out.step_s += time.perf_counter() - t0
        for stream, entry, items in zip(plan.streams, plan.entries, plan.items, strict=True):
            entry.offset = items[-1].record.offset
            entry.timestamp = items[-1].reading.ts
            entry.unsaved.extend(items)
            self._dirty[stream] = entry
        alerts = build_alerts(plan, results, self.config.alerts_topic, self.detector.model_id)
        messages = list(alerts)
        if self.config.scores_topic:
            messages += build_scores(plan, results, self.config.scores_topic)
        out.alerts += len(alerts)
        out.applied += plan.n_readings
        await self._publish(messages, dead, out)

    def _forget(self, streams: list[str]) -> None:
        for s in streams:
            self._dirty.pop(s, None)
        self.hot.drop(streams)

    async def _ensure_hot(self, groups: dict[str, list[Decoded]], out: BatchOutcome) -> None:
        """Load the states of streams that are not hot (one round trip) into pool slots."""
        cold = [s for s in groups if self.hot.get(s) is None]
        if not cold:
            return
        t0 = time.perf_counter()
        loaded = await retry_store(lambda: self.store.load(cold), "load", self.config)
        out.load_s += time.perf_counter() - t0
        out.loaded += len(cold)
        slots: list[int] = []
        states: list[StreamState] = []
        fresh: list[int] = []  # streams never seen: zeroed in place, no state built
        pinned = self._pinned(groups)
        for stream in cold:
            entry = self.hot.admit(stream, pinned)
            entry.partition = groups[stream][0].record.partition
            rec = loaded.records.get(stream)
            if rec is None:
                fresh.append(entry.slot)
                continue
            states.append(rec.state)
            entry.saved_step = rec.state.step
            entry.saved_offset = rec.offset
            entry.offset = rec.offset
            entry.timestamp = rec.timestamp
            slots.append(entry.slot)
        self.detector.reset(np.asarray(fresh, dtype=np.int64))
        self.detector.put(np.asarray(slots, dtype=np.int64), states)

    def _plan(
        self, groups: dict[str, list[Decoded]], dead: list[DeadLetter], out: BatchOutcome
    ) -> StepPlan:
        """Drop replays and readings not after the stream's last one; the rest in order."""
        plan = StepPlan()
        for stream, items in groups.items():
            entry = self.hot.get(stream)
            assert entry is not None
            keep: list[Decoded] = []
            last_off, last_ts = entry.offset, entry.timestamp
            for d in items:
                if d.record.offset <= last_off:
                    out.replays += 1
                elif d.reading.ts <= last_ts:
                    dead.append(
                        dead_letter(
                            d.record,
                            NOT_AFTER_LAST,
                            f"ts={d.reading.ts!r} is not after the stream's last ts={last_ts!r}",
                        )
                    )
                else:
                    keep.append(d)
                    last_off, last_ts = d.record.offset, d.reading.ts
            if keep:
                plan.add(stream, entry, keep)
        return plan

    async def _publish(
        self, messages: list[OutMessage], dead: list[DeadLetter], out: BatchOutcome
    ) -> None:
        dead = out.new_dead(dead)
        if dead:
            topic = self.config.dlq_topic
            messages = messages + [
                OutMessage(topic, _dlq_key(d), d.model_dump_json().encode()) for d in dead
            ]
        if not messages:
            return
        t0 = time.perf_counter()
        self._unacked.append(await self.publisher.send(messages))
        out.publish_s += time.perf_counter() - t0

    async def _take_snapshot(self) -> _Snapshot:
        """Take every stream dirty now for a save, ``SNAPSHOT_CHUNK`` streams at a time.

        Each chunk is taken under the lock (a stream's delta, offset and readings together)
        and the event loop is free between chunks. A batch applied in between steps streams
        not taken yet (they are taken with those steps) or makes taken ones dirty again (for
        the next save), as a batch applied while a save is in flight does."""
        async with self._lock:
            self._check_usable()
            todo = list(self._dirty)
            snap = self._snapshot(todo[:SNAPSHOT_CHUNK])
        try:
            for lo in range(SNAPSHOT_CHUNK, len(todo), SNAPSHOT_CHUNK):
                await asyncio.sleep(0)
                async with self._lock:
                    self._check_usable()
                    snap.extend(self._snapshot(todo[lo : lo + SNAPSHOT_CHUNK]))
        except BaseException:
            # No await here: a second cancellation cannot lose the streams taken so far.
            self._unsnapshot(snap)
            raise
        return snap

    def _snapshot(self, streams: list[str]) -> _Snapshot:
        """Take ``streams`` that are still dirty for a save (the lock is held): deltas since
        the last saved step, with the offset and timestamp of the last reading applied."""
        streams = [s for s in streams if s in self._dirty]  # a revocation may drop some
        entries = [self._dirty.pop(s) for s in streams]
        if not streams:
            return _Snapshot([], [], [], [])
        slots = np.asarray([e.slot for e in entries], dtype=np.int64)
        since = np.asarray([e.saved_step for e in entries], dtype=np.int64)
        deltas = self.detector.delta(slots, since)
        updates = [
            StreamUpdate(s, delta, e.offset, e.timestamp)
            for s, delta, e in zip(streams, deltas, entries, strict=True)
        ]
        readings = []
        for e in entries:
            readings.append(e.unsaved)
            e.unsaved = []
        self._saving.update(streams)
        return _Snapshot(streams, entries, updates, readings)

    def _unsnapshot(self, snap: _Snapshot) -> None:
        """A save failed: its streams are dirty again, with all their unsaved readings."""
        self._saving = set()
        for stream, entry, items in zip(snap.streams, snap.entries, snap.readings, strict=True):
            if self.hot.get(stream) is not entry:
                continue  # dropped meanwhile (revoked partition, failed batch)
            entry.unsaved = items + entry.unsaved
            self._dirty[stream] = entry

    def _settle(
        self, snap: _Snapshot, fenced: set[str], out: BatchOutcome
    ) -> tuple[dict[str, list[Decoded]], dict[str, int]]:
        """Record a save's outcome (the lock is held). Returns, for each fenced stream that
        is still hot, the readings to apply again (its hot copy is dropped) and the offset
        this worker had saved for it."""
        self._saving = set()
        again: dict[str, list[Decoded]] = {}
        saved_before: dict[str, int] = {}
        for stream, entry, update, items in zip(
            snap.streams, snap.entries, snap.updates, snap.readings, strict=True
        ):
            if stream not in fenced:
                entry.saved_step = update.delta.step
                entry.saved_offset = update.offset
                out.saved += len(items)
            elif self.hot.get(stream) is entry:
                again[stream] = items + entry.unsaved
                entry.unsaved = []
                saved_before[stream] = entry.saved_offset
                self._forget([stream])
            else:
                # Dropped while its save was in flight (only a failed batch does that):
                # its readings cannot be applied again, so this flush must not count.
                self._broken = self._broken or UnsavedStepsLost(
                    f"stream {stream!r} was fenced after its hot copy was dropped"
                )
        self._check_usable()
        return again, saved_before

    def on_revoked(self, partitions: Sequence[int]) -> int:
        """Forget hot copies of streams of revoked partitions; returns how many."""
        gone = set(partitions)
        self._drop_dirty([s for s, e in self._dirty.items() if e.partition in gone])
        return self.hot.drop_partitions(gone)

    def keep_partitions(self, owned: Collection[int]) -> int:
        """Forget hot copies of streams of partitions not in ``owned``; returns how many."""
        gone = [s for s in list(self.hot) if self.hot.partition_of(s) not in owned]
        self._drop_dirty(gone)
        return self.hot.drop(gone)

    def _drop_dirty(self, streams: list[str]) -> None:
        lost = [s for s in streams if s in self._dirty]
        if lost:
            # Their batches are not acked (they are flushed before a revocation completes,
            # so this only happens after a failed flush): the new owner replays them.
            logger.warning("dropping unsaved steps of %d stream(s) of lost partitions", len(lost))
            for s in lost:
                del self._dirty[s]


def _dlq_key(d: DeadLetter) -> bytes | None:
    """The original key, so a stream's dead letters share a partition."""
    if d.key_b64 is None:
        return None
    try:
        return base64.b64decode(d.key_b64)
    except (binascii.Error, ValueError):
        return None
