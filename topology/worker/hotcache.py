"""Hot streams: which streams keep their state in the detector's pool, and where.

A hot stream's state lives in one slot of the ``Detector``'s pool (on the GPU when there is
one), so a batch only loads the states of streams that are not hot. The cache is an LRU
bounded in bytes; the pipeline never evicts a stream whose steps are not saved yet (it pins
them), so evicting is always safe.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tcnad.state.types import UNKNOWN_SOURCE

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class HotEntry:
    """A hot stream: its pool slot and what is known to be stored for it.

    saved_step: step of the state last saved (or loaded); the next save is fenced on it.
    offset / timestamp: of the last reading applied (-1 / -inf: none yet).
    source: ``tcnad.state.types.source_id`` of the topic partition ``offset`` belongs to
    (``UNKNOWN_SOURCE``: none yet, or stored before sources were recorded).
    partition: the partition its readings came from (-1: not known yet).
    unsaved: the readings applied since the last save began (a fenced save applies them
    again on top of the newer stored state).
    saved_offset: the offset stored with ``saved_step`` (-1: none).
    """

    slot: int
    saved_step: int
    offset: int
    timestamp: float
    source: int = UNKNOWN_SOURCE
    partition: int = -1
    unsaved: list[Any] = field(default_factory=list)
    saved_offset: int = -1


class CacheFull(RuntimeError):
    """More streams were pinned at once than the cache has slots (a caller bug)."""


class HotCache:
    """LRU map ``stream -> HotEntry`` over ``capacity`` pool slots.

    capacity: ``min(pool slots, max_bytes // bytes_per_stream)`` (at least 1).
    """

    def __init__(self, pool_slots: int, bytes_per_stream: int, max_bytes: int) -> None:
        by_bytes = max_bytes // max(1, bytes_per_stream)
        self.capacity = max(1, min(pool_slots, by_bytes))
        self.bytes_per_stream = bytes_per_stream
        self._entries: OrderedDict[str, HotEntry] = OrderedDict()
        self._free: list[int] = list(range(self.capacity - 1, -1, -1))
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, stream: object) -> bool:
        return stream in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes of the hot states (``len * bytes_per_stream``)."""
        return len(self._entries) * self.bytes_per_stream

    def get(self, stream: str) -> HotEntry | None:
        """The entry of a hot stream (marked as most recently used), else None."""
        entry = self._entries.get(stream)
        if entry is not None:
            self._entries.move_to_end(stream)
        return entry

    def admit(self, stream: str, pinned: Collection[str]) -> HotEntry:
        """Give a stream that is not hot a slot, evicting the least recently used stream
        that is not in ``pinned``. The new entry knows nothing stored yet (step 0)."""
        if stream in self._entries:
            raise ValueError(f"stream {stream!r} is already hot")
        if not self._free:
            self._evict_one(pinned)
        entry = HotEntry(self._free.pop(), 0, -1, -math.inf)
        self._entries[stream] = entry
        return entry

    def _evict_one(self, pinned: Collection[str]) -> None:
        for stream in self._entries:
            if stream not in pinned:
                self.drop([stream])
                self.evictions += 1
                return
        raise CacheFull(f"all {self.capacity} hot slots are pinned by the current batch")

    def drop(self, streams: Iterable[str]) -> int:
        """Forget streams (their slots become free); returns how many were hot."""
        n = 0
        for stream in streams:
            entry = self._entries.pop(stream, None)
            if entry is not None:
                self._free.append(entry.slot)
                n += 1
        return n

    def partition_of(self, stream: str) -> int:
        """The partition of a hot stream (-1 if unknown or not hot); not an LRU touch."""
        entry = self._entries.get(stream)
        return -1 if entry is None else entry.partition

    def drop_partitions(self, partitions: Collection[int]) -> int:
        """Forget the streams whose readings came from ``partitions`` (revoked ones)."""
        gone = [s for s, e in self._entries.items() if e.partition in partitions]
        return self.drop(gone)

    def clear(self) -> None:
        self.drop(list(self._entries))
