"""The ``CacheStore`` contract on ``MemoryCacheStore`` (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from tcnad.detector.state import StateLayout
from tcnad.state import MemoryCacheStore
from tcnad.state.memory import MemoryEntry
from tests.unit.state.contract import LAYOUT, CacheStoreContract


class MemoryBackend:
    def __init__(self) -> None:
        self.data: dict[str, MemoryEntry] = {}
        self.now = 0.0

    def make(self, layout: StateLayout = LAYOUT, **kwargs: Any) -> MemoryCacheStore:
        return MemoryCacheStore(layout, data=self.data, clock=lambda: self.now, **kwargs)

    async def advance(self, seconds: float) -> None:
        self.now += seconds

    async def raw(self, stream: str) -> tuple[bytes | None, bytes | None]:
        entry = self.data.get(stream)
        if entry is None or (entry.expires_at is not None and entry.expires_at <= self.now):
            return None, None
        return entry.meta, bytes(entry.rings)

    async def plant(self, stream: str, meta: bytes, rings: bytes) -> None:
        self.data[stream] = MemoryEntry(meta, bytearray(rings), None)


class TestMemoryStore(CacheStoreContract):
    @pytest.fixture
    def backend(self) -> MemoryBackend:
        return MemoryBackend()
