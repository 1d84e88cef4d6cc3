"""The ``CacheStore`` contract on ``MemoryCacheStore`` (no network)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tcnad.detector.state import StateLayout
from tcnad.state import MemoryCacheStore
from tcnad.state.memory import MemoryEntry
from tests.state_fixtures import synthetic_update
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


async def test_held_rings_beyond_the_budget_cost_a_fence_and_a_reload_not_a_reset() -> None:
    """Streams loaded converted beyond the held budget: the oldest one's rings are dropped,
    so its save (rows only) is fenced; reloaded, it is converted again and saved whole."""
    data: dict[str, MemoryEntry] = {}
    full = MemoryCacheStore(LAYOUT, data=data)
    assert (await full.save([synthetic_update(LAYOUT, s, 0, 10) for s in "abc"])).saved
    half = dataclasses.replace(LAYOUT, ring_dtype="float16")
    store = MemoryCacheStore(half, data=data)
    store.converted.budget = 2 * half.ring_bytes
    assert len((await store.load(["a", "b", "c"])).records) == 3
    assert store.stats.converted == 3 and list(store.converted.held) == ["b", "c"]
    result = await store.save([synthetic_update(half, s, 10, 11) for s in "abc"])
    assert result.fenced == ["a"] and result.saved == ["b", "c"]
    assert store.converted.held == {}
    assert (await store.load(["a"])).records["a"].state.step == 10
    assert (await store.save([synthetic_update(half, "a", 10, 11)])).saved == ["a"]
    assert all(data[s].meta.startswith(store.codec.header) for s in "abc")
    assert (await full.load(["a", "b", "c"])).reset == []  # and back, converted again
