"""Batches of raw readings through the detector: plain classes, no broker needed.

Order (docs/architecture.md, "Batch pipeline"). ``apply``: decode + validate (bad -> dead
letters) -> group by stream -> load the states of streams not hot (one store round trip) ->
skip replays (offset <= the stream's last applied offset), dead-letter readings whose
timestamp is not after the stream's last -> step the detector in rounds (round r = the r-th
reading of each stream) -> alerts -> send alerts, scores and dead letters to the producer.
``flush`` is the write-behind save (saver.py): it may run while later batches are applied,
and a batch's offsets may be acked only once a ``flush`` begun after its ``apply`` returned
has returned. Streams whose save was fenced are applied again here (``_apply_again``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Collection, Sequence
from operator import lt

import numpy as np

from tcnad.detector.engine import StreamDetector
from tcnad.detector.state import StreamState
from tcnad.state.types import UNKNOWN_SOURCE, CacheStore, source_id
from tcnad.topology.wire.decode import Decoded, RawRecord, dead_letter, decode_batch
from tcnad.topology.wire.schemas import DeadLetter
from tcnad.topology.worker.batch import (
    BatchOutcome,
    OutMessage,
    PipelineConfig,
    PreparedBatch,
    Publisher,
    retry_store,
)
from tcnad.topology.worker.hotcache import HotCache
from tcnad.topology.worker.rounds import (
    StepPlan,
    build_alerts,
    build_scores,
    group_by_stream,
    reading_ts,
    step_rounds,
)
from tcnad.topology.worker.saver import StreamSaver
from tcnad.topology.worker.unsaved import UnsavedStreams

logger = logging.getLogger(__name__)

NOT_AFTER_LAST = "not_after_last"


class BatchPipeline:
    """Applies batches of raw records to the streams' states, exactly once per reading.

    Applying and saving are separate (write-behind): ``apply`` steps a batch and sends its
    alerts; ``flush`` (``saver``, a ``StreamSaver``) waits for the acks of what was sent,
    then saves every stream stepped since the last save in one fenced round trip, while
    later batches are applied. ``process`` is the two together. ``unsaved`` keeps each
    stream's readings applied since its last save, so a fenced save can apply them again on
    top of the newer stored state. ``_lock`` is held while a batch changes state, and by the
    saver while it takes a snapshot or settles a save.
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
        self.unsaved = UnsavedStreams(detector, hot)
        self.saver = StreamSaver(self.unsaved, store, config, self._lock, self._apply_again)

    @property
    def dirty(self) -> int:
        """Streams with steps not yet handed to a save."""
        return len(self.unsaved.dirty)

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
                self.saver.check_usable()
                await self._apply_guarded(chunk, pending_dead, out)
            pending_dead = []
        if pending_dead:
            await self._publish([], pending_dead, out)
        return out

    async def flush(self) -> BatchOutcome:
        """Save every stream stepped so far (``StreamSaver.flush``)."""
        return await self.saver.flush()

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
            if not self.unsaved.pinned():
                return  # nothing to wait for; admission reports it
            await self.flush()

    def _pinned(self, groups: Collection[str]) -> set[str]:
        """Streams that must not be evicted: the batch's and those with unsaved steps."""
        return {*groups, *self.unsaved.pinned()}

    async def _apply_guarded(
        self, groups: dict[str, list[Decoded]], dead: list[DeadLetter], out: BatchOutcome
    ) -> None:
        """``_apply_core`` with failure handling (the lock is held)."""
        earlier = [s for s in groups if self.unsaved.has_unsaved(s)]
        try:
            await self._apply_core(groups, dead, out)
        except BaseException as exc:
            # The pool may hold steps whose alerts were not published: forget them.
            self.unsaved.forget(list(groups))
            if earlier:
                self.saver.lost(exc)
            raise

    async def _apply_again(self, groups: dict[str, list[Decoded]], out: BatchOutcome) -> None:
        """Apply fenced streams' readings again on their reloaded states (the lock is held)."""
        await self._apply_guarded(groups, [], out)

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
            last = items[-1].record
            entry.offset, entry.timestamp = last.offset, items[-1].ts
            entry.source, entry.partition = source_id(last.topic, last.partition), last.partition
            self.unsaved.stepped(stream, entry, items)
        alerts = build_alerts(plan, results, self.config.alerts_topic, self.detector.model_id)
        messages = list(alerts)
        if self.config.scores_topic:
            messages += build_scores(plan, results, self.config.scores_topic)
        out.alerts += len(alerts)
        out.applied += plan.n_readings
        await self._publish(messages, dead, out)

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
            entry.source = rec.source
            slots.append(entry.slot)
        self.detector.reset(np.asarray(fresh, dtype=np.int64))
        self.detector.put(np.asarray(slots, dtype=np.int64), states)

    def _plan(
        self, groups: dict[str, list[Decoded]], dead: list[DeadLetter], out: BatchOutcome
    ) -> StepPlan:
        """The readings to apply, per stream in order; replays skipped, stale ones dead.

        A stream's applied timestamps only increase, so a reading after the last applied
        one cannot be in the state yet: it is applied, whatever its topic, partition or
        offset (a new topic, a recreated one, a repartitioned one). A reading that is not
        after it is a replay when it comes from the stored source at an offset not after
        the stored one (skipped and counted), and a stale reading otherwise
        (``not_after_last``: dead-lettered, never dropped silently).
        """
        plan = StepPlan()
        for stream, items in groups.items():
            entry = self.hot.get(stream)
            assert entry is not None
            last_off, last_ts, source = entry.offset, entry.timestamp, entry.source
            times = list(map(reading_ts, items))
            if times[0] > last_ts and all(map(lt, times, times[1:])):
                plan.add(stream, entry, items)  # the common case: every reading is new
                continue
            keep: list[Decoded] = []
            for d in items:
                rec = d.record
                if d.ts > last_ts:
                    keep.append(d)
                    last_off, last_ts = rec.offset, d.ts
                    source = source_id(rec.topic, rec.partition)
                elif rec.offset <= last_off and source in (
                    UNKNOWN_SOURCE,
                    source_id(rec.topic, rec.partition),
                ):
                    out.replays += 1
                else:
                    dead.append(
                        dead_letter(
                            rec,
                            NOT_AFTER_LAST,
                            f"ts={d.ts!r} is not after the stream's last ts={last_ts!r}",
                        )
                    )
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
        self.saver.sent(await self.publisher.send(messages))
        out.publish_s += time.perf_counter() - t0

    def on_revoked(self, partitions: Sequence[int]) -> int:
        """Forget hot copies of streams of revoked partitions; returns how many."""
        gone = set(partitions)
        self.unsaved.drop_partitions(gone)
        return self.hot.drop_partitions(gone)

    def keep_partitions(self, owned: Collection[int]) -> int:
        """Forget hot copies of streams of partitions not in ``owned``; returns how many."""
        gone = [s for s in list(self.hot) if self.hot.partition_of(s) not in owned]
        self.unsaved.drop(gone)
        return self.hot.drop(gone)


def _dlq_key(d: DeadLetter) -> bytes | None:
    """The original key, so a stream's dead letters share a partition."""
    if d.key_b64 is None:
        return None
    try:
        return base64.b64decode(d.key_b64)
    except (binascii.Error, ValueError):
        return None
