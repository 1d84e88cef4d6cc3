"""The hot streams' unsaved readings: which streams the next save takes, and taking them.

A stream's unsaved readings (``HotEntry.unsaved``; saver.py says what "unsaved" means and
why the consumer keeps a second, per-batch form of it) make it *dirty* until a save takes
it, then *saving* until that save returns; neither may be evicted from the hot cache. The
caller (``StreamSaver``, ``BatchPipeline``) holds the pipeline's lock around every call.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from tcnad.detector.engine import StreamDetector
from tcnad.state.types import StreamUpdate
from tcnad.topology.wire.decode import Decoded
from tcnad.topology.worker.batch import BatchOutcome
from tcnad.topology.worker.hotcache import HotCache, HotEntry

logger = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """The dirty streams taken by one save: their entries, updates and readings."""

    streams: list[str]
    entries: list[HotEntry]
    updates: list[StreamUpdate]
    readings: list[list[Decoded]]

    def extend(self, part: Snapshot) -> None:
        self.streams += part.streams
        self.entries += part.entries
        self.updates += part.updates
        self.readings += part.readings


@dataclass
class Settled:
    """A save's outcome for the pipeline: per fenced stream still hot, the readings to apply
    again (its hot copy is gone) and the step and offset this worker had saved for it;
    ``orphaned``: fenced streams whose hot copy was dropped while the save was in flight."""

    again: dict[str, list[Decoded]]
    saved_before: dict[str, tuple[int, int]]
    orphaned: list[str]


class UnsavedStreams:
    """The dirty and saving streams of a pipeline's hot cache."""

    def __init__(self, detector: StreamDetector, hot: HotCache) -> None:
        self.detector = detector
        self.hot = hot
        self.dirty: dict[str, HotEntry] = {}  # unsaved readings not yet taken by a save
        self.saving: set[str] = set()  # in the save in flight

    def stepped(self, stream: str, entry: HotEntry, items: list[Decoded]) -> None:
        """A batch applied ``items`` to ``stream``: they are unsaved."""
        entry.unsaved.extend(items)
        self.dirty[stream] = entry

    def has_unsaved(self, stream: str) -> bool:
        entry = self.dirty.get(stream)
        return entry is not None and bool(entry.unsaved)

    def pinned(self) -> set[str]:
        """Streams whose steps are not saved yet (they must not be evicted)."""
        return {*self.dirty, *self.saving}

    def forget(self, streams: list[str]) -> None:
        """Drop streams' hot copies and their unsaved steps."""
        for s in streams:
            self.dirty.pop(s, None)
        self.hot.drop(streams)

    def drop(self, streams: Collection[str]) -> None:
        """Streams of lost partitions: their unsaved steps go. Their batches are not acked
        (a revocation flushes first, so this follows a failed flush): the new owner replays
        them."""
        lost = [s for s in streams if s in self.dirty]
        if lost:
            logger.warning("dropping unsaved steps of %d stream(s) of lost partitions", len(lost))
            for s in lost:
                del self.dirty[s]

    def drop_partitions(self, partitions: Collection[int]) -> None:
        self.drop([s for s, e in self.dirty.items() if e.partition in partitions])

    def take(self, streams: list[str]) -> Snapshot:
        """Take ``streams`` that are still dirty for a save: deltas since the last saved
        step, with the offset and timestamp of the last reading applied."""
        streams = [s for s in streams if s in self.dirty]  # a revocation may drop some
        entries = [self.dirty.pop(s) for s in streams]
        if not streams:
            return Snapshot([], [], [], [])
        slots = np.asarray([e.slot for e in entries], dtype=np.int64)
        since = np.asarray([e.saved_step for e in entries], dtype=np.int64)
        deltas = self.detector.delta(slots, since)
        updates = [
            StreamUpdate(s, delta, e.offset, e.timestamp, e.source)
            for s, delta, e in zip(streams, deltas, entries, strict=True)
        ]
        readings = []
        for e in entries:
            readings.append(e.unsaved)
            e.unsaved = []
        self.saving.update(streams)
        return Snapshot(streams, entries, updates, readings)

    def put_back(self, snap: Snapshot) -> None:
        """A save failed: its streams are dirty again, with all their unsaved readings."""
        self.saving = set()
        for stream, entry, items in zip(snap.streams, snap.entries, snap.readings, strict=True):
            if self.hot.get(stream) is not entry:
                continue  # dropped meanwhile (revoked partition, failed batch)
            entry.unsaved = items + entry.unsaved
            self.dirty[stream] = entry

    def settle(self, snap: Snapshot, fenced: set[str], out: BatchOutcome) -> Settled:
        """Record a save's outcome: saved streams now start from the saved step; fenced
        ones still hot lose their hot copy and hand back their readings."""
        self.saving = set()
        settled = Settled({}, {}, [])
        for stream, entry, update, items in zip(
            snap.streams, snap.entries, snap.updates, snap.readings, strict=True
        ):
            if stream not in fenced:
                entry.saved_step = update.delta.step
                entry.saved_offset = update.offset
                out.saved += len(items)
            elif self.hot.get(stream) is entry:
                settled.again[stream] = items + entry.unsaved
                entry.unsaved = []
                settled.saved_before[stream] = (entry.saved_step, entry.saved_offset)
                self.forget([stream])
            else:
                settled.orphaned.append(stream)  # only a failed batch drops a saving stream
        return settled
