"""The ``CacheStore`` contract: one suite, run against every store implementation (with
``RingDtypeContract``'s tests of states stored in another ring dtype).

A subclass provides a ``backend`` fixture (a ``Backend``): it makes stores that share one
storage, reads and plants raw bytes, and lets time pass for TTL tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import struct
from typing import Any, Protocol

import numpy as np
import pytest

from tcnad.detector.engine import detector_layout, stats_layout
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import StateLayout
from tcnad.state import IncompatibleState, InvalidUpdate, StateCodec
from tcnad.state.base import StoreStats
from tcnad.state.codec import FORMAT_VERSION
from tcnad.state.types import (
    UNKNOWN_SOURCE,
    LoadResult,
    SaveResult,
    StreamUpdate,
    source_id,
)
from tests.state_fixtures import (
    expected_state,
    inconsistencies,
    position_at,
    reference_layout,
    stats_at,
    synthetic_update,
)
from tests.unit.state.contract_dtype import RingDtypeContract

LAYOUT = reference_layout()


class Store(Protocol):
    stats: StoreStats

    async def load(self, streams: Any) -> LoadResult: ...
    async def save(self, updates: Any) -> SaveResult: ...
    async def delete(self, streams: Any) -> int: ...
    async def close(self) -> None: ...


class Backend(Protocol):
    def make(self, layout: StateLayout = LAYOUT, **kwargs: Any) -> Store: ...
    async def advance(self, seconds: float) -> None: ...
    async def raw(self, stream: str) -> tuple[bytes | None, bytes | None]: ...
    async def plant(self, stream: str, meta: bytes, rings: bytes) -> None: ...


def assert_state(record: Any, layout: StateLayout, stream: str, step: int) -> None:
    assert record.stream == stream
    assert record.state.step == step
    assert inconsistencies(layout, record) == []
    want = expected_state(layout, stream, step)
    for got, exp in zip(record.state.rings, want.rings, strict=True):
        assert got.dtype == np.float32 and got.shape == exp.shape


async def advance_to(store: Store, stream: str, steps: list[int]) -> None:
    """Save a synthetic stream through ``steps`` (each from the previous one)."""
    since = 0
    for step in steps:
        result = await store.save([synthetic_update(LAYOUT, stream, since, step)])
        assert result.saved == [stream], result
        since = step


class CacheStoreContract(RingDtypeContract):
    async def test_unknown_streams_are_missing(self, backend: Backend) -> None:
        store = backend.make()
        result = await store.load(["a", "b", "a"])
        assert result.records == {} and result.missing == ["a", "b"] and result.reset == []
        assert (await store.load([])).missing == []

    async def test_roundtrip_new_stream(self, backend: Backend) -> None:
        store = backend.make()
        assert (await store.save([synthetic_update(LAYOUT, "s", 0, 1)])).saved == ["s"]
        result = await store.load(["s", "other"])
        assert result.missing == ["other"]
        record = result.records["s"]
        assert_state(record, LAYOUT, "s", 1)
        assert (record.offset, record.timestamp) == position_at(1)

    @pytest.mark.parametrize("chunks", [[1] * 9, [1, 2, 3, 5, 8, 13, 21], [3, 300, 1, 255, 2]])
    async def test_incremental_saves_equal_full_state(self, backend: Backend, chunks: list[int]):
        """Deltas of any size, wrapping the rings or longer than them, add up to the state."""
        store = backend.make()
        since = 0
        for chunk in chunks:
            step = since + chunk
            assert (await store.save([synthetic_update(LAYOUT, "s", since, step)])).saved
            assert_state((await store.load(["s"])).records["s"], LAYOUT, "s", step)
            since = step

    async def test_short_rings_blob_reads_as_zeros(self, backend: Backend) -> None:
        store = backend.make()
        await store.save([synthetic_update(LAYOUT, "s", 0, 1)])
        meta, rings = await backend.raw("s")
        assert meta is not None and rings is not None
        assert 0 < len(rings) < LAYOUT.ring_bytes  # only slot 0 of the last ring written
        assert_state((await store.load(["s"])).records["s"], LAYOUT, "s", 1)

    async def test_stale_writer_is_fenced_and_changes_nothing(self, backend: Backend) -> None:
        store = backend.make()
        await advance_to(store, "s", [5, 9])
        stale = synthetic_update(LAYOUT, "s", 5, 7)
        result = await store.save([stale, synthetic_update(LAYOUT, "t", 0, 2)])
        assert result.fenced == ["s"] and result.saved == ["t"]
        assert_state((await store.load(["s"])).records["s"], LAYOUT, "s", 9)

    async def test_chained_updates_of_one_stream_in_one_batch(self, backend: Backend) -> None:
        store = backend.make()
        batch = [synthetic_update(LAYOUT, "s", 0, 2), synthetic_update(LAYOUT, "s", 2, 5)]
        assert (await store.save(batch)).saved == ["s", "s"]
        assert_state((await store.load(["s"])).records["s"], LAYOUT, "s", 5)
        empty = await store.save([])
        assert empty.saved == [] and empty.fenced == []

    async def test_new_stream_with_nonzero_since_is_fenced(self, backend: Backend) -> None:
        store = backend.make()
        result = await store.save([synthetic_update(LAYOUT, "s", 4, 6)])
        assert result.fenced == ["s"]
        assert (await store.load(["s"])).missing == ["s"]

    async def test_replayed_batch_leaves_state_unchanged(self, backend: Backend) -> None:
        """The same batch saved twice: the second save is recognised as already applied
        (reported saved) and the stored bytes do not change; any different write from the
        old step is fenced. The stored offset lets a caller skip the replayed readings."""
        store = backend.make()
        await advance_to(store, "s", [4])
        batch = [synthetic_update(LAYOUT, "s", 4, 6), synthetic_update(LAYOUT, "n", 0, 3)]
        assert (await store.save(batch)).saved == ["s", "n"]
        before = [await backend.raw(s) for s in ("s", "n")]
        again = await store.save(batch)
        assert again.saved == ["s", "n"] and again.fenced == []
        assert [await backend.raw(s) for s in ("s", "n")] == before
        diverging = await store.save([synthetic_update(LAYOUT, "s", 4, 5)])
        assert diverging.fenced == ["s"]
        record = (await store.load(["s"])).records["s"]
        assert_state(record, LAYOUT, "s", 6)
        assert record.offset == batch[0].offset  # readings at or before it are replays

    async def test_two_writers_exactly_one_wins(self, backend: Backend) -> None:
        one, two = backend.make(), backend.make()
        streams = [f"race-{i}" for i in range(50)]
        await one.save([synthetic_update(LAYOUT, s, 0, 3) for s in streams])
        a = [synthetic_update(LAYOUT, s, 3, 4) for s in streams]
        b = [synthetic_update(LAYOUT, s, 3, 5) for s in streams]
        ra, rb = await asyncio.gather(one.save(a), two.save(b))
        for s in streams:
            assert (s in ra.saved) != (s in rb.saved), s
            assert (s in ra.fenced) == (s in rb.saved)
        loaded = await one.load(streams)
        for s in streams:
            assert_state(loaded.records[s], LAYOUT, s, 4 if s in ra.saved else 5)

    async def test_other_model_is_reset_and_overwritten(self, backend: Backend) -> None:
        old_layout = StateLayout(((8, 4), (4, 2)), 3, "old-model")
        old = backend.make(old_layout)
        await old.save([synthetic_update(old_layout, "s", 0, 20)])
        store = backend.make()
        result = await store.load(["s"])
        assert result.reset == ["s"] and result.missing == ["s"] and result.records == {}
        assert store.stats.resets == 1
        assert (await store.save([synthetic_update(LAYOUT, "s", 0, 2)])).saved == ["s"]
        assert_state((await store.load(["s"])).records["s"], LAYOUT, "s", 2)
        assert (await old.load(["s"])).reset == ["s"]

    async def test_other_model_raises_under_error_policy(self, backend: Backend) -> None:
        other = StateLayout(LAYOUT.ring_shapes, LAYOUT.stats_size, "ref0002")
        await backend.make(other).save([synthetic_update(other, "s", 0, 20)])
        store = backend.make(on_incompatible="error")
        before = await backend.raw("s")
        with pytest.raises(IncompatibleState) as info:
            await store.load(["s"])
        message = str(info.value)
        assert "'ref0002'" in message and "'ref0001'" in message and "reset" in message
        assert (await store.save([synthetic_update(LAYOUT, "s", 0, 1)])).fenced == ["s"]
        assert await backend.raw("s") == before

    @pytest.mark.parametrize("policy", ["reset", "error"])
    async def test_a_format1_state_is_kept_and_upgraded_by_its_next_save(
        self, backend: Backend, policy: str
    ) -> None:
        store = backend.make(on_incompatible=policy)
        await advance_to(store, "old", [3])
        meta, rings = await backend.raw("old")
        assert meta is not None and rings is not None
        codec = StateCodec(LAYOUT)
        head = len(codec.header)
        # format 1: version 1 in the header, no source after step, offset and timestamp
        old = codec.old_header + meta[head : head + 24] + meta[head + 32 :]
        await backend.plant("old", old, rings)
        record = (await store.load(["old"])).records["old"]
        assert_state(record, LAYOUT, "old", 3)
        assert record.source == UNKNOWN_SOURCE
        stale = synthetic_update(LAYOUT, "old", 2, 5)
        assert (await store.save([stale])).fenced == ["old"]
        assert await backend.raw("old") == (old, rings)
        src = source_id("readings", 1)
        update = dataclasses.replace(synthetic_update(LAYOUT, "old", 3, 5), source=src)
        assert (await store.save([update])).saved == ["old"]
        record = (await store.load(["old"])).records["old"]
        assert_state(record, LAYOUT, "old", 5)
        assert record.source == src
        new_meta, _ = await backend.raw("old")
        assert new_meta is not None and new_meta.startswith(codec.header)

    @pytest.mark.parametrize("policy", ["reset", "error"])
    @pytest.mark.parametrize("version", [FORMAT_VERSION, 1])
    async def test_a_state_of_the_previous_stats_layout_is_migrated_and_saved_in_the_new(
        self, backend: Backend, policy: str, version: int
    ) -> None:
        """A stream stored by a worker of the previous stats layout (the shipped model's 205
        floats, before the open alert's slice): loaded migrated (its stats kept, the new
        slice fresh), saved from its step (not fenced, not reset) and stored in the new
        layout; a stale save is still fenced and changes nothing."""
        spec = TCNSpec()  # one value, 9 quantiles: the shipped model's stats
        new = dataclasses.replace(
            detector_layout(spec, LAYOUT.model_id, LAYOUT.ring_dtype),
            ring_shapes=LAYOUT.ring_shapes,
        )
        old = StateLayout(LAYOUT.ring_shapes, 205, LAYOUT.model_id)  # as today's workers write
        assert new.stats_size == 210 and [o.stats_size for o in new.older] == [205]
        await advance_to_layout(backend.make(old), old, "s", [2, 4])
        meta, rings = await backend.raw("s")
        assert meta is not None and rings is not None
        if version == 1:  # a format 1 state of the previous layout: no source
            head = len(StateCodec(old).header)
            meta = StateCodec(old).old_header + meta[head : head + 24] + meta[head + 32 :]
            await backend.plant("s", meta, rings)
        store = backend.make(new, on_incompatible=policy)
        loaded = await store.load(["s"])
        assert loaded.reset == [] and store.stats.resets == 0
        record = loaded.records["s"]
        assert record.state.step == 4 and (record.offset, record.timestamp) == position_at(4)
        fresh = stats_layout(spec).fresh()[0]
        assert np.array_equal(record.state.stats[:205], stats_at(old, "s", 4))
        assert np.array_equal(record.state.stats[205:], fresh[205:], equal_nan=True)
        for got, want in zip(record.state.rings, expected_state(old, "s", 4).rings, strict=True):
            assert np.array_equal(got, want)
        assert (await store.save([synthetic_update(new, "s", 3, 6)])).fenced == ["s"]
        assert await backend.raw("s") == (meta, rings)
        assert (await store.save([synthetic_update(new, "s", 4, 6)])).saved == ["s"]
        stored, _ = await backend.raw("s")
        assert stored is not None and stored.startswith(StateCodec(new).header)
        assert len(stored) == StateCodec(new).meta_size
        record = (await store.load(["s"])).records["s"]
        assert record.state.step == 6 and inconsistencies(new, record) == []
        assert (await store.save([synthetic_update(new, "s", 6, 7)])).saved == ["s"]
        assert (await backend.make(old).load(["s"])).reset == ["s"]  # no way back

    @pytest.mark.parametrize("policy", ["reset", "error"])
    async def test_other_format_version_and_corrupt_meta(self, backend: Backend, policy: str):
        codec = StateCodec(LAYOUT)
        meta = codec.encode_meta(3, 10, 1.0, np.zeros(LAYOUT.stats_size))
        future = meta[:4] + struct.pack("<H", FORMAT_VERSION + 1) + meta[6:]
        await backend.plant("future", future, b"")
        await backend.plant("short", meta[:-8], b"\0" * 8)
        await backend.plant("junk", b"not a state", b"")
        await backend.plant("long-rings", meta, b"\0" * (LAYOUT.ring_bytes + 4))
        store = backend.make(on_incompatible=policy)
        names = ["future", "short", "junk", "long-rings"]
        if policy == "reset":
            assert (await store.load(names)).reset == names
            assert store.stats.resets == 4
            return
        for name, hint in zip(
            names,
            [f"format version {FORMAT_VERSION + 1}", "bytes", "not a tcnad", "rings"],
            strict=True,
        ):
            with pytest.raises(IncompatibleState, match=hint):
                await store.load([name])

    async def test_delete_resets_streams(self, backend: Backend) -> None:
        store = backend.make()
        await store.save([synthetic_update(LAYOUT, s, 0, 3) for s in "abc"])
        assert await store.delete(["a", "b", "zz"]) == 2
        result = await store.load(["a", "b", "c"])
        assert result.missing == ["a", "b"] and list(result.records) == ["c"]
        assert await backend.raw("a") == (None, None)
        assert (await store.save([synthetic_update(LAYOUT, "a", 0, 1)])).saved == ["a"]

    async def test_idle_streams_expire_and_saves_renew(self, backend: Backend) -> None:
        store = backend.make(ttl_s=1.0)
        await store.save([synthetic_update(LAYOUT, s, 0, 1) for s in ("busy", "idle")])
        await backend.advance(0.6)
        await store.save([synthetic_update(LAYOUT, "busy", 1, 2)])
        await backend.advance(0.6)
        result = await store.load(["busy", "idle"])
        assert result.missing == ["idle"] and list(result.records) == ["busy"]
        assert await backend.raw("idle") == (None, None)
        await backend.advance(1.2)
        assert (await store.load(["busy"])).missing == ["busy"]

    async def test_invalid_update_is_rejected_before_writing(self, backend: Backend) -> None:
        store = backend.make()
        good = synthetic_update(LAYOUT, "good", 0, 2)
        u = synthetic_update(LAYOUT, "bad", 0, 2)
        rows = list(u.delta.ring_rows(LAYOUT.ring_shapes))
        rows[3] = (rows[3][0], rows[3][1][:1])
        bad = StreamUpdate("bad", type(u.delta).from_ring_rows(0, 2, u.delta.stats, rows), 1, 1.0)
        with pytest.raises(InvalidUpdate, match=r"rows of steps 0->2 have shape"):
            await store.save([good, bad])
        assert (await store.load(["good", "bad"])).missing == ["good", "bad"]

    async def test_one_round_trip_per_load_and_save(self, backend: Backend) -> None:
        """One round trip per call; on a cluster, one per master (3000 streams reach all)."""
        small = StateLayout(((2, 4), (8, 4)), 2, "small")
        store = backend.make(small)
        streams = [f"s{i}" for i in range(3000)]
        warm_up = [synthetic_update(small, f"warm-up{i}", 0, 1) for i in range(30)]
        await store.save(warm_up)  # Redis: loads the script (on every master of a cluster)
        trips = trips_by_node(store)
        await store.save([synthetic_update(small, s, 0, 1) for s in streams])
        assert _added(trips, trips_by_node(store)) == {n: 1 for n in trips}
        result = await store.load(streams)
        assert _added(trips, trips_by_node(store)) == {n: 2 for n in trips}
        assert len(result.records) == 3000


async def advance_to_layout(store: Store, layout: StateLayout, stream: str, steps: list[int]):
    """``advance_to`` for a synthetic stream of ``layout``."""
    since = 0
    for step in steps:
        result = await store.save([synthetic_update(layout, stream, since, step)])
        assert result.saved == [stream], result
        since = step


def trips_by_node(store: Store) -> dict[str, int]:
    """Round trips so far per server (a cluster store counts them per master)."""
    per_node = getattr(store.stats, "node_round_trips", None)
    return dict(per_node) if per_node is not None else {"": store.stats.round_trips}


def _added(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {n: after.get(n, 0) - before.get(n, 0) for n in before | after}
