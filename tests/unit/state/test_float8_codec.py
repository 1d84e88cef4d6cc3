"""Rings stored as 8-bit floats (``float8_e5m2``): torch's rounding, a quarter of float32's
bytes, rows and Lua row sizes, decoding as float16, and saves of any delta sizes
rebuilding the rounded state."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tcnad.state import MemoryCacheStore, StateCodec
from tcnad.state.codec import as_float16, fingerprint, from_stored, to_stored
from tcnad.state.lua import save_script
from tcnad.state.memory import MemoryEntry
from tests.state_fixtures import expected_state, reference_layout, synthetic_update
from tests.unit.state.test_half_codec import half_layout, rebuild_with_deltas, rounded

F8 = "float8_e5m2"
LAYOUT = reference_layout()


def test_float8_rounding_is_torchs_and_its_values_are_float16s() -> None:
    rng = np.random.default_rng(0)
    special = np.array(
        [0.0, -0.0, 1.0, 1.125, 1.25, 1.375, 57344.0, 61440.0, 1e6, -1e6, 2**-16, 2**-17,
         1.5 * 2**-17, 1e-9, np.inf, -np.inf, np.nan],
        dtype=np.float32,
    )  # fmt: skip
    values = np.concatenate([special, rng.normal(size=20_000).astype(np.float32) * 50])
    stored = to_stored(values, F8)
    assert stored.dtype == np.uint8 and stored.shape == values.shape
    torch_bits = torch.from_numpy(values).to(torch.float8_e5m2).view(torch.uint8).numpy()
    finite = np.isfinite(values)
    assert np.array_equal(stored[finite], torch_bits[finite])
    want = torch.from_numpy(values).to(torch.float8_e5m2).float().numpy()
    np.testing.assert_array_equal(from_stored(stored, F8), want)  # NaN where NaN
    # every stored value is a float16 exactly: the upper byte of its bits
    half = as_float16(stored, F8)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half.astype(np.float32), want)
    # already stored: passed through; float16 values of a float8 ring round to themselves
    assert np.array_equal(to_stored(stored, F8), stored)
    assert np.array_equal(to_stored(half, F8)[finite], stored[finite])


def test_float8_rings_take_a_quarter_of_the_bytes_and_have_their_own_fingerprint() -> None:
    layout = half_layout(F8)
    codec = StateCodec(layout)
    prints = {fingerprint(half_layout(d)) for d in ("float32", "float16", "bfloat16", F8)}
    assert len(prints) == 4
    assert layout.ring_bytes * 4 == LAYOUT.ring_bytes == 130_312
    assert codec.row_bytes == tuple(ch for _, ch in LAYOUT.ring_shapes)
    state = expected_state(layout, "s", 600)
    blob = codec.encode_rings(state.rings)
    assert len(blob) == layout.ring_bytes
    j, slot = 5, 3
    row = blob[codec.ring_base[j] + slot * 32 : codec.ring_base[j] + (slot + 1) * 32]
    want = rounded(state, F8)
    np.testing.assert_array_equal(from_stored(np.frombuffer(row, np.uint8), F8), want[j][slot])
    decoded = codec.decode_rings(blob)
    assert all(r.dtype == np.float16 for r in decoded)
    for got, exp in zip(decoded, want, strict=True):
        np.testing.assert_array_equal(got.astype(np.float32), exp)
    short = codec.decode_rings(blob[: codec.ring_base[3]])
    assert not short[3].any() and np.array_equal(short[2].astype(np.float32), want[2])
    update = synthetic_update(layout, "s", 600, 601)
    assert len(codec.encode_rows(update.delta)) == 481  # 962 in float16, 1,924 in float32
    script = save_script(codec, reset=True, ttl_ms=0)
    assert f"{{{codec.ring_base[-1]}, 256, 32}}" in script
    assert f"{{{codec.ring_base[1]}, 2, 32}}" in script


def test_a_float8_store_reads_a_float16_state_rounded_and_a_float32_one_reads_it_exactly() -> None:
    state = expected_state(LAYOUT, "s", 600)
    stats = np.arange(float(LAYOUT.stats_size))
    w16 = StateCodec(half_layout("float16"))
    record = StateCodec(half_layout(F8)).decode(
        "s", w16.encode_meta(600, 1, 0.0, stats), w16.encode_rings(state.rings)
    )
    assert record is not None
    want = [
        torch.from_numpy(r).to(torch.float16).to(torch.float8_e5m2).float().numpy()
        for r in state.rings
    ]
    for got, exp in zip(record.state.rings, want, strict=True):
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got.astype(np.float32), exp)
    w8 = StateCodec(half_layout(F8))
    back = StateCodec(LAYOUT).decode(
        "s", w8.encode_meta(600, 1, 0.0, stats), w8.encode_rings(record.state.rings)
    )
    assert back is not None
    for got, exp in zip(back.state.rings, want, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, exp)


@settings(max_examples=15, deadline=None)
@given(chunks=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8))
def test_any_float8_delta_sequence_rebuilds_the_rounded_state(chunks: list[int]) -> None:
    data: dict[str, MemoryEntry] = {}
    make = lambda layout: MemoryCacheStore(layout, data=data)  # noqa: E731
    asyncio.run(rebuild_with_deltas(make, F8, [*chunks, 9]))


def test_the_layout_dataclass_accepts_float8() -> None:
    assert dataclasses.replace(LAYOUT, ring_dtype=F8).ring_itemsize == 1
