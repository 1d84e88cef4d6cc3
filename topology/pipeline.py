"""One batch of raw readings through the detector: plain classes, no broker needed.

Order per batch (docs/architecture.md, "Delivery and recovery"):
decode + validate (bad -> dead letters) -> group by stream -> load the states of streams not
hot (one store round trip) -> skip replays (offset <= stored offset), dead-letter readings
whose timestamp is not after the stream's last -> step the detector in rounds (round r = the
r-th reading of each stream) -> alerts -> publish alerts, scores and dead letters (acks
awaited) -> save (one round trip, fenced). Streams whose save was fenced lose their hot copy
and their readings of the batch are applied again on top of the stored state (the replay
rule makes that exact). Only when ``process`` returns may the caller ack the batch's offsets.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from detector.state import StreamState
from state.types import CacheStore, StreamUpdate
from topology.decode import Decoded, RawRecord, dead_letter, decode_batch
from topology.hotcache import HotCache
from topology.ports import DetectorLike, OutMessage, Publisher
from topology.retry import retry_store
from topology.rounds import StepPlan, build_alerts, build_scores, group_by_stream, step_rounds
from topology.schemas import DeadLetter

logger = logging.getLogger(__name__)

NOT_AFTER_LAST = "not_after_last"


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


@dataclass
class BatchOutcome:
    """What one ``process`` call did (counters for metrics and tests)."""

    records: int = 0
    applied: int = 0
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


class BatchPipeline:
    """Applies batches of raw records to the streams' states, exactly once per reading."""

    def __init__(
        self,
        detector: DetectorLike,
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

    async def process(self, records: Sequence[RawRecord]) -> BatchOutcome:
        """Decode, score, publish and save one batch. Raises on store or publish failure
        (after bounded retries): the batch must then not be acked."""
        return await self.apply(self.prepare(records))

    def prepare(self, records: Sequence[RawRecord]) -> PreparedBatch:
        """Decode and group by stream (no state needed, so it may run ahead)."""
        t0 = time.perf_counter()
        decoded, dead = decode_batch(records, self.width)
        groups = group_by_stream(decoded)
        return PreparedBatch(len(records), groups, dead, time.perf_counter() - t0)

    async def apply(self, prepared: PreparedBatch) -> BatchOutcome:
        """Score, publish and save a prepared batch (see ``process``)."""
        out = BatchOutcome(records=prepared.records, decode_s=prepared.decode_s)
        groups = prepared.groups
        pending_dead = list(prepared.dead)
        streams = list(groups)
        for lo in range(0, len(streams), self.hot.capacity):
            chunk = {s: groups[s] for s in streams[lo : lo + self.hot.capacity]}
            await self._apply_chunk(chunk, pending_dead, out)
            pending_dead = []
        if pending_dead:
            await self._publish([], pending_dead, out)
        return out

    async def _apply_chunk(
        self, groups: dict[str, list[Decoded]], dead: list[DeadLetter], out: BatchOutcome
    ) -> None:
        todo = groups
        for attempt in range(self.config.fenced_retries + 1):
            try:
                fenced = await self._apply_once(todo, dead, out)
            except BaseException:
                # The pool may hold steps that were never saved: forget them.
                self.hot.drop(todo)
                raise
            dead = []
            if not fenced:
                return
            out.fenced += len(fenced)
            logger.warning(
                "fenced save: streams=%d attempt=%d; reloading and applying again",
                len(fenced),
                attempt + 1,
            )
            todo = {s: groups[s] for s in fenced}
        raise FencedTooOften(
            f"{len(todo)} stream(s) stayed fenced after {self.config.fenced_retries} "
            f"re-applications (e.g. {next(iter(todo))!r}); another worker keeps writing them"
        )

    async def _apply_once(
        self, groups: dict[str, list[Decoded]], dead: list[DeadLetter], out: BatchOutcome
    ) -> list[str]:
        """One pass over ``groups``; returns the streams whose save was fenced."""
        await self._ensure_hot(groups, out)
        plan = self._plan(groups, dead, out)
        t0 = time.perf_counter()
        results = step_rounds(self.detector, plan)
        out.step_s += time.perf_counter() - t0
        alerts = build_alerts(plan, results, self.config.alerts_topic, self.detector.model_id)
        messages = list(alerts)
        if self.config.scores_topic:
            messages += build_scores(plan, results, self.config.scores_topic)
        out.alerts += len(alerts)
        out.applied += plan.n_readings
        await self._publish(messages, dead, out)
        return await self._save(plan, out)

    async def _ensure_hot(self, groups: dict[str, list[Decoded]], out: BatchOutcome) -> None:
        """Load the states of streams that are not hot (one round trip) into pool slots."""
        cold = [s for s in groups if self.hot.get(s) is None]
        if not cold:
            return
        t0 = time.perf_counter()
        loaded = await retry_store(lambda: self.store.load(cold), "load", self.config)
        out.load_s += time.perf_counter() - t0
        out.loaded += len(cold)
        det = self.detector
        slots: list[int] = []
        states: list[StreamState] = []
        for stream in cold:
            entry = self.hot.admit(stream, groups)
            entry.partition = groups[stream][0].record.partition
            rec = loaded.records.get(stream)
            if rec is None:
                states.append(det.new_state())
            else:
                states.append(rec.state)
                entry.saved_step = rec.state.step
                entry.offset = rec.offset
                entry.timestamp = rec.timestamp
            slots.append(entry.slot)
        det.put(np.asarray(slots, dtype=np.int64), states)

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
        await self.publisher.publish(messages)
        out.publish_s += time.perf_counter() - t0

    async def _save(self, plan: StepPlan, out: BatchOutcome) -> list[str]:
        if not plan.streams:
            return []
        det = self.detector
        slots = np.asarray([e.slot for e in plan.entries], dtype=np.int64)
        since = np.asarray([e.saved_step for e in plan.entries], dtype=np.int64)
        deltas = det.delta(slots, since)
        updates = [
            StreamUpdate(s, delta, items[-1].record.offset, items[-1].reading.ts)
            for s, delta, items in zip(plan.streams, deltas, plan.items, strict=True)
        ]
        t0 = time.perf_counter()
        result = await retry_store(lambda: self.store.save(updates), "save", self.config)
        out.save_s += time.perf_counter() - t0
        fenced = set(result.fenced)
        for stream, entry, delta, items in zip(
            plan.streams, plan.entries, deltas, plan.items, strict=True
        ):
            if stream not in fenced:
                entry.saved_step = delta.step
                entry.offset = items[-1].record.offset
                entry.timestamp = items[-1].reading.ts
        self.hot.drop(fenced)
        return [s for s in plan.streams if s in fenced]

    def on_revoked(self, partitions: Sequence[int]) -> int:
        """Forget hot copies of streams of revoked partitions; returns how many."""
        return self.hot.drop_partitions(set(partitions))

    def keep_partitions(self, owned: Collection[int]) -> int:
        """Forget hot copies of streams of partitions not in ``owned``; returns how many."""
        return self.hot.drop([s for s in list(self.hot) if self.hot.partition_of(s) not in owned])


def _dlq_key(d: DeadLetter) -> bytes | None:
    """The original key, so a stream's dead letters share a partition."""
    if d.key_b64 is None:
        return None
    try:
        return base64.b64decode(d.key_b64)
    except (binascii.Error, ValueError):
        return None
