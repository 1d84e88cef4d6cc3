"""What a store keeps per stream and what one batch asks it to change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tcnad.detector.state import StateDelta, StreamState


@dataclass(frozen=True)
class StreamRecord:
    """A stream's stored state plus the position of the last reading applied to it.

    offset: Kafka offset of the last applied reading (-1: none yet).
    timestamp: epoch seconds of the last applied reading (-inf: none yet).
    """

    stream: str
    state: StreamState
    offset: int
    timestamp: float


@dataclass(frozen=True)
class StreamUpdate:
    """One stream's change in a batch. Applies only if the stored step is ``delta.since_step``
    (0 and absent for a new stream); otherwise the stream is reported as fenced."""

    stream: str
    delta: StateDelta
    offset: int
    timestamp: float


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
