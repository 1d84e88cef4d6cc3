"""What a store keeps per stream and what one batch asks it to change."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tcnad.detector.state import StateDelta, StreamState

UNKNOWN_SOURCE = 0


@functools.lru_cache(maxsize=4096)
def source_id(topic: str, partition: int) -> int:
    """A 64-bit id of a topic's partition, the source of a stream's readings (never
    ``UNKNOWN_SOURCE``). Offsets compare only within one source. Cached: the worker asks
    once per reading."""
    digest = hashlib.blake2b(f"{topic}\x00{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


@dataclass(frozen=True)
class StreamRecord:
    """A stream's stored state plus the position of the last reading applied to it.

    offset: Kafka offset of the last applied reading (-1: none yet).
    timestamp: epoch seconds of the last applied reading (-inf: none yet).
    source: ``source_id`` of the topic partition that offset belongs to
    (``UNKNOWN_SOURCE``: stored before sources were recorded, or none yet).
    """

    stream: str
    state: StreamState
    offset: int
    timestamp: float
    source: int = UNKNOWN_SOURCE


@dataclass(frozen=True)
class StreamUpdate:
    """One stream's change in a batch. Applies only if the stored step is ``delta.since_step``
    (0 and absent for a new stream); otherwise the stream is reported as fenced."""

    stream: str
    delta: StateDelta
    offset: int
    timestamp: float
    source: int = UNKNOWN_SOURCE


@dataclass(frozen=True)
class LoadResult:
    records: dict[str, StreamRecord]
    missing: list[str]  # never seen (or expired): start from a fresh state
    # stored by another model/format (or corrupt) and reset; also listed in ``missing``
    reset: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SaveResult:
    saved: list[str]
    fenced: list[str]  # stored step differed: drop the hot copy and reload


class CacheStore(Protocol):
    """Per-stream detector state at rest. One round trip per ``load`` and per ``save``."""

    async def load(self, streams: Sequence[str]) -> LoadResult: ...

    async def save(self, updates: Sequence[StreamUpdate]) -> SaveResult: ...

    async def delete(self, streams: Sequence[str]) -> int: ...

    async def close(self) -> None: ...
