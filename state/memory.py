"""``MemoryCacheStore``: the ``CacheStore`` contract in process memory, for tests and demos.

It stores the same bytes as the Redis store (same codec, same save decision), so the
contract suite exercises the codec, fencing, replay and policy logic without a server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tcnad.detector.state import StateLayout
from tcnad.state.base import (
    Converted,
    OnIncompatible,
    Outcome,
    StoreStats,
    check_policy,
    collect,
    decide,
    unique,
)
from tcnad.state.codec import StateCodec
from tcnad.state.types import LoadResult, SaveResult, StreamUpdate


@dataclass
class MemoryEntry:
    """One stream at rest: meta bytes, rings blob, expiry time (clock seconds) or None."""

    meta: bytes
    rings: bytearray
    expires_at: float | None


class MemoryCacheStore:
    """In-memory ``CacheStore``. Pass the same ``data`` dict to several stores to share it
    (e.g. two workers, or two models). ``clock`` drives TTL expiry."""

    def __init__(
        self,
        layout: StateLayout,
        *,
        ttl_s: float | None = None,
        on_incompatible: str = "reset",
        data: dict[str, MemoryEntry] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.codec = StateCodec(layout)
        self.layout = layout
        self.ttl_s = ttl_s
        self.policy: OnIncompatible = check_policy(on_incompatible)
        self.data: dict[str, MemoryEntry] = {} if data is None else data
        self.clock = clock
        self.stats = StoreStats()
        self.converted = Converted(self.codec)

    def _get(self, stream: str) -> MemoryEntry | None:
        entry = self.data.get(stream)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.clock():
            del self.data[stream]
            return None
        return entry

    async def load(self, streams: Sequence[str]) -> LoadResult:
        """Stored records of ``streams``; absent or expired ones are ``missing``."""
        self.stats.round_trips += 1
        rows = []
        for stream in unique(streams):
            self.stats.commands += 1
            entry = self._get(stream)
            rows.append(
                (stream, None, None) if entry is None else (stream, entry.meta, bytes(entry.rings))
            )
        return collect(self.codec, self.policy, self.stats, rows, self.converted)

    async def save(self, updates: Sequence[StreamUpdate]) -> SaveResult:
        """Apply each update if the stored step is its ``since_step``; else report fenced."""
        encoded = [self.codec.encode_update(u) for u in updates]  # validate all first
        self.stats.round_trips += 1
        saved, fenced = [], []
        for update, (body, rows) in zip(updates, encoded, strict=True):
            self.stats.commands += 1
            whole = self.converted.whole(update, rows)
            outcome = self._apply(update, body, rows, whole)
            if whole is not None or outcome is not Outcome.FENCED:
                self.converted.forget(update.stream)  # stored in this dtype, or fenced
            if outcome is Outcome.FENCED:
                fenced.append(update.stream)
            else:
                saved.append(update.stream)
        self.stats.saved += len(saved)
        self.stats.fenced += len(fenced)
        return SaveResult(saved, fenced)

    def _apply(
        self, update: StreamUpdate, body: bytes, rows: bytes, whole: bytes | None
    ) -> Outcome:
        """Apply one update; ``whole``: the whole rings to store instead of its ``rows``."""
        entry = self._get(update.stream)
        since, step = update.delta.since_step, update.delta.step
        stored = entry.meta if entry else None
        outcome = decide(self.codec, self.policy, stored, since, body, whole is not None)
        if outcome is not Outcome.APPLIED:
            return outcome
        if entry is None or since == 0 or whole is not None:
            entry = MemoryEntry(b"", bytearray(whole or b""), None)
            self.data[update.stream] = entry
        writes = self.codec.ring_writes(since, step) if whole is None else []
        for w in writes:
            if len(entry.rings) < w.dst + w.length:
                entry.rings.extend(bytes(w.dst + w.length - len(entry.rings)))
            entry.rings[w.dst : w.dst + w.length] = rows[w.src : w.src + w.length]
        entry.meta = self.codec.header + body
        entry.expires_at = None if self.ttl_s is None else self.clock() + self.ttl_s
        self.stats.bytes_sent += len(body) + len(rows if whole is None else whole)
        return outcome

    async def delete(self, streams: Sequence[str]) -> int:
        """Forget ``streams``; returns how many existed."""
        self.stats.round_trips += 1
        for s in unique(streams):
            self.converted.forget(s)
        return sum(
            self._get(s) is not None and self.data.pop(s) is not None for s in unique(streams)
        )

    async def close(self) -> None:
        """Nothing to release."""
