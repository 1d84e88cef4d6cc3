"""The ``CacheStore`` contract for states stored with rings of another dtype than the
store's (``StateLayout.ring_dtype``): read converted, through float32, with their step,
position and stats; the next save from that step stores them whole in the store's dtype,
fenced as any save. A state of an unrelated layout is still incompatible.

Part of ``CacheStoreContract`` (tests/unit/state/contract.py), so it runs against every
store: in memory here, on a real Redis and on a real Redis Cluster in the integration tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from tcnad.detector.arrays import F32
from tcnad.detector.state import StateLayout
from tcnad.state import StateCodec
from tcnad.state.codec import from_stored, to_stored
from tcnad.state.types import StreamUpdate, source_id
from tests.state_fixtures import (
    expected_state,
    position_at,
    reference_layout,
    stats_at,
    synthetic_update,
)

BASE = reference_layout()  # the contract's LAYOUT, float32
PAIRS = [
    ("float32", "float16"),
    ("float16", "float32"),
    ("float32", "bfloat16"),
    ("bfloat16", "float16"),
    ("float16", "float8_e5m2"),
    ("float8_e5m2", "float32"),
]
SOURCE = source_id("readings", 3)


def with_dtype(ring_dtype: str, layout: StateLayout = BASE) -> StateLayout:
    return dataclasses.replace(layout, ring_dtype=ring_dtype)


def cast(values: F32, *dtypes: str) -> F32:
    """``values`` as stored in each of ``dtypes`` in turn, read back as float32."""
    for dtype in dtypes:
        values = from_stored(to_stored(values, dtype), dtype).reshape(values.shape)
    return values


def update(layout: StateLayout, stream: str, since: int, step: int) -> StreamUpdate:
    return dataclasses.replace(synthetic_update(layout, stream, since, step), source=SOURCE)


def saved_after(stream: str, loaded: int, step: int, stored: str, mine: str) -> list[F32]:
    """The rings of a synthetic stream stored in ``stored`` at step ``loaded``, read by a
    store of ``mine`` and saved on to ``step``: the rows of the later steps in ``mine``,
    every other row converted from ``stored``."""
    rings = [cast(r, stored, mine) for r in expected_state(BASE, stream, loaded).rings]
    later = expected_state(BASE, stream, step).rings
    for ring, full in zip(rings, later, strict=True):
        slots = np.arange(max(loaded, step - len(ring)), step) % len(ring)
        ring[slots] = cast(full[slots], mine)
    return rings


def assert_rings(got: tuple[F32, ...], want: list[F32], mine: str) -> None:
    """The rings as a store of ``mine`` decodes them: float32, float16 in a float16 or
    float8 one."""
    assert len(got) == len(want)
    dtype = np.float16 if mine in ("float16", "float8_e5m2") else np.float32
    for j, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == dtype and g.shape == w.shape, j
        np.testing.assert_array_equal(g, w, err_msg=f"ring {j}")


async def plant(backend: Any, layout: StateLayout, stream: str, steps: list[int]) -> None:
    """Save a synthetic stream through ``steps`` with a store of ``layout``."""
    store, since = backend.make(layout), 0
    for step in steps:
        assert (await store.save([update(layout, stream, since, step)])).saved == [stream]
        since = step


class RingDtypeContract:
    @pytest.mark.parametrize("policy", ["reset", "error"])
    @pytest.mark.parametrize(("stored", "mine"), PAIRS)
    async def test_a_state_of_another_ring_dtype_is_converted_and_saved_whole(
        self, backend: Any, stored: str, mine: str, policy: str
    ) -> None:
        """Loaded converted (rings cast, step, position, source and stats kept, nothing
        reset); a stale save and a save of rows that were not loaded converted are fenced
        and change nothing; the loader's save from the stream's step is applied and stores
        the whole state in its dtype, which a store of that dtype then loads as its own."""
        old, new = with_dtype(stored), with_dtype(mine)
        await plant(backend, old, "s", [5, 300])
        before = await backend.raw("s")
        store = backend.make(new, on_incompatible=policy)
        loaded = await store.load(["s"])
        assert loaded.reset == [] and loaded.missing == [] and store.stats.resets == 0
        assert store.stats.converted == 1
        record = loaded.records["s"]
        assert record.state.step == 300 and record.source == SOURCE
        assert (record.offset, record.timestamp) == position_at(300)
        assert np.array_equal(record.state.stats, stats_at(BASE, "s", 300))
        assert_rings(
            record.state.rings,
            [cast(r, stored, mine) for r in expected_state(BASE, "s", 300).rings],
            mine,
        )

        assert (await store.save([update(new, "s", 299, 302)])).fenced == ["s"]
        rows_only = backend.make(new)  # never loaded it: would send rows into other rings
        assert (await rows_only.save([update(new, "s", 300, 302)])).fenced == ["s"]
        assert await backend.raw("s") == before

        assert (await store.save([update(new, "s", 300, 302)])).saved == ["s"]
        meta, rings = await backend.raw("s")
        codec = StateCodec(new)
        assert meta is not None and meta.startswith(codec.header)
        assert len(meta) == codec.meta_size
        assert rings is not None and len(rings) == new.ring_bytes
        again = backend.make(new)
        record = (await again.load(["s"])).records["s"]
        assert again.stats.converted == 0 and again.stats.resets == 0
        assert record.state.step == 302 and record.source == SOURCE
        assert (record.offset, record.timestamp) == position_at(302)
        assert np.array_equal(record.state.stats, stats_at(BASE, "s", 302))
        assert_rings(record.state.rings, saved_after("s", 300, 302, stored, mine), mine)
        assert (await again.save([update(new, "s", 302, 303)])).saved == ["s"]
        assert (await again.load(["s"])).records["s"].state.step == 303

    async def test_two_converting_writers_one_wins_and_a_replay_is_already_applied(
        self, backend: Any
    ) -> None:
        """Two float16 stores load the same float32 state: the first save from its step
        wins; the other's same save is recognised as already applied (changing nothing),
        its different one is fenced."""
        new = with_dtype("float16")
        await plant(backend, BASE, "s", [40])
        one, two = backend.make(new), backend.make(new)
        for store in (one, two):
            assert (await store.load(["s"])).records["s"].state.step == 40
        assert (await one.save([update(new, "s", 40, 42)])).saved == ["s"]
        after = await backend.raw("s")
        assert (await two.save([update(new, "s", 40, 42)])).saved == ["s"]
        assert await backend.raw("s") == after
        assert (await two.load(["s"])).records["s"].state.step == 42
        assert (await two.save([update(new, "s", 40, 41)])).fenced == ["s"]
        assert await backend.raw("s") == after

    async def test_a_whole_save_renews_the_ttl_of_both_keys(self, backend: Any) -> None:
        new = with_dtype("float16")
        await plant(backend, BASE, "s", [4])
        store = backend.make(new, ttl_s=1.0)
        await store.load(["s"])
        assert (await store.save([update(new, "s", 4, 5)])).saved == ["s"]
        await backend.advance(0.6)
        assert (await store.load(["s"])).records["s"].state.step == 5
        await backend.advance(0.6)
        assert await backend.raw("s") == (None, None)

    @pytest.mark.parametrize(
        "other",
        [
            StateLayout(BASE.ring_shapes, BASE.stats_size, "ref0002"),  # another model
            StateLayout(BASE.ring_shapes[:-2], BASE.stats_size, BASE.model_id),  # spec
            StateLayout(BASE.ring_shapes, BASE.stats_size + 1, BASE.model_id),  # stats
        ],
        ids=["model", "rings", "stats"],
    )
    async def test_a_state_of_an_unrelated_layout_and_dtype_is_still_reset(
        self, backend: Any, other: StateLayout
    ) -> None:
        await plant(backend, other, "s", [20])
        store = backend.make(with_dtype("float16"))
        result = await store.load(["s"])
        assert result.reset == ["s"] and result.records == {}
        assert store.stats.resets == 1 and store.stats.converted == 0
        new = with_dtype("float16")
        assert (await store.save([update(new, "s", 0, 2)])).saved == ["s"]
        assert (await backend.make(new).load(["s"])).records["s"].state.step == 2
