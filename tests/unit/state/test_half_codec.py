"""Rings stored as float16 or bfloat16: bytes, rounding, fingerprint, Lua row sizes, saves
of any delta sizes rebuilding the (rounded) state, and states of another ring dtype read
converted."""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tcnad.detector.state import StateLayout, StreamState
from tcnad.state import CorruptState, IncompatibleState, MemoryCacheStore, StateCodec
from tcnad.state.codec import fingerprint, from_stored, to_stored
from tcnad.state.lua import save_script
from tcnad.state.memory import MemoryEntry
from tcnad.state.types import CacheStore
from tests.state_fixtures import expected_state, reference_layout, synthetic_update

HALF = ("float16", "bfloat16")
LAYOUT = reference_layout()


def half_layout(ring_dtype: str, layout: StateLayout = LAYOUT) -> StateLayout:
    return dataclasses.replace(layout, ring_dtype=ring_dtype)


def rounded(state: StreamState, ring_dtype: str) -> tuple[np.ndarray, ...]:
    """The state's rings as a store of ``ring_dtype`` keeps them."""
    return tuple(
        from_stored(to_stored(r, ring_dtype), ring_dtype).reshape(r.shape) for r in state.rings
    )


def test_bfloat16_rounding_is_torchs() -> None:
    rng = np.random.default_rng(0)
    special = np.array(
        [0.0, -0.0, 1.0, 1.00390625, 1.01171875, 1.0 + 2**-8, 1.0 + 3 * 2**-8, 3.4e38, -3.4e38,
         1e-40, -1e-40, np.inf, -np.inf, np.nan, 65504.0, 1e-8],
        dtype=np.float32,
    )  # fmt: skip
    values = np.concatenate([special, rng.normal(size=10_000).astype(np.float32) * 100])
    bits = rng.integers(0, 2**32, 10_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = np.concatenate([values, bits])
    for dtype, torch_dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        want = torch.from_numpy(values).to(torch_dtype).float().numpy()
        got = from_stored(to_stored(values, dtype), dtype)
        np.testing.assert_array_equal(got, want)  # NaN where NaN, bits otherwise
    stored = to_stored(values, "bfloat16")
    torch_bits = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy()
    finite = np.isfinite(values)
    assert np.array_equal(stored[finite], torch_bits[finite].view(np.uint16))


def test_float32_fingerprint_is_unchanged_and_each_dtype_has_its_own() -> None:
    text = f"<f4|{list(LAYOUT.ring_shapes)}|{LAYOUT.stats_size}"
    assert fingerprint(LAYOUT) == zlib.crc32(text.encode("ascii"))
    prints = {fingerprint(half_layout(d)) for d in ("float32", *HALF)}
    assert len(prints) == 3
    with pytest.raises(ValueError, match="ring dtype"):
        half_layout("float64")


@pytest.mark.parametrize("ring_dtype", HALF)
def test_half_rings_take_half_the_bytes(ring_dtype: str) -> None:
    layout = half_layout(ring_dtype)
    codec = StateCodec(layout)
    assert layout.ring_bytes * 2 == LAYOUT.ring_bytes == 130_312
    assert codec.row_bytes == tuple(ch * 2 for _, ch in LAYOUT.ring_shapes)
    state = expected_state(layout, "s", 600)
    blob = codec.encode_rings(state.rings)
    assert len(blob) == layout.ring_bytes
    j, slot = 5, 3
    row = blob[codec.ring_base[j] + slot * 64 : codec.ring_base[j] + (slot + 1) * 64]
    want = rounded(state, ring_dtype)
    np.testing.assert_array_equal(
        from_stored(np.frombuffer(row, "<u2" if ring_dtype == "bfloat16" else "<f2"), ring_dtype),
        want[j][slot],
    )
    for got, exp in zip(codec.decode_rings(blob), want, strict=True):
        np.testing.assert_array_equal(got, exp)
    short = codec.decode_rings(blob[: codec.ring_base[3]])
    assert not short[3].any() and np.array_equal(short[2], want[2])
    update = synthetic_update(layout, "s", 600, 601)
    assert len(codec.encode_rows(update.delta)) == 962  # 1,924 bytes in float32
    script = save_script(codec, reset=True, ttl_ms=0)
    assert f"{{{codec.ring_base[-1]}, 256, 64}}" in script
    assert f"{{{codec.ring_base[1]}, 2, 64}}" in script


def test_a_state_of_another_ring_dtype_is_read_converted_through_float32() -> None:
    """Every pair of ring dtypes: the rings as the reader's dtype holds the writer's values
    cast through float32, the step, position, source and stats as written; a well-known
    header of the wrong size is corrupt; other shapes in another dtype are another layout."""
    state = expected_state(LAYOUT, "s", 600)
    stats = np.arange(float(LAYOUT.stats_size))
    for writer in ("float32", *HALF):
        w = StateCodec(half_layout(writer))
        meta = w.encode_meta(600, 41, 1.5, stats, source=9)
        blob = w.encode_rings(state.rings)
        for reader in ("float32", *HALF):
            r = StateCodec(half_layout(reader))
            record = r.decode("s", meta, blob)
            assert record is not None and record.state.step == 600
            assert (record.offset, record.timestamp, record.source) == (41, 1.5, 9)
            np.testing.assert_array_equal(record.state.stats, stats)
            written = StreamState(600, rounded(state, writer), stats)
            for got, want in zip(record.state.rings, rounded(written, reader), strict=True):
                np.testing.assert_array_equal(got, want)
            assert r.stored_step(meta) == 600
            if writer != reader:
                with pytest.raises(CorruptState):
                    r.decode("s", meta + b"\0", blob)
                assert r.stored_step(meta[:-8]) is None
                other = StateCodec(
                    half_layout(
                        writer, dataclasses.replace(LAYOUT, ring_shapes=LAYOUT.ring_shapes[:-1])
                    )
                )
                with pytest.raises(IncompatibleState, match="layout"):
                    r.decode("s", other.encode_meta(1, 0, 0.0, stats), b"\0" * 8)


def test_a_half_value_beyond_float16_converts_to_inf_as_torch_does() -> None:
    """bfloat16 and float32 hold values float16 cannot: converted they become what a
    float16 pool would hold (inf), as ``torch`` casts them."""
    layout = StateLayout(((2, 2),), 1, "wide")
    values = np.array([[1e5, -7e4], [3.0, 65504.0]], dtype=np.float32)
    for writer in ("float32", "bfloat16"):
        w = StateCodec(half_layout(writer, layout))
        meta = w.encode_meta(2, 0, 0.0, np.zeros(1))
        record = StateCodec(half_layout("float16", layout)).decode(
            "s", meta, w.encode_rings((values,))
        )
        assert record is not None
        want = torch.from_numpy(rounded(StreamState(2, (values,), np.zeros(1)), writer)[0])
        np.testing.assert_array_equal(record.state.rings[0], want.to(torch.float16).float())


async def rebuild_with_deltas(
    make: Callable[[StateLayout], CacheStore], ring_dtype: str, chunks: Sequence[int]
) -> None:
    """Save deltas of the given sizes (wrapping every ring) with a store of ``ring_dtype``
    and check each load against the full state, rounded; a float32 store then reads the
    stream converted (the same values, which float32 holds exactly)."""
    layout = half_layout(ring_dtype, StateLayout(((2, 1), (2, 3), (4, 3), (8, 3)), 3, "half"))
    store = make(layout)
    step = 0
    for chunk in chunks:
        update = synthetic_update(layout, "s", step, step + chunk)
        assert (await store.save([update])).saved == ["s"]
        step += chunk
        record = (await store.load(["s"])).records.get("s")
        if step == 0 and record is None:
            continue
        assert record is not None and record.state.step == step
        want = rounded(expected_state(layout, "s", step), ring_dtype)
        for got, exp in zip(record.state.rings, want, strict=True):
            np.testing.assert_array_equal(got, exp)
    await store.close()
    other = make(dataclasses.replace(layout, ring_dtype="float32"))
    got = await other.load(["s"])
    assert got.reset == [] and got.records["s"].state.step == step
    want = rounded(expected_state(layout, "s", step), ring_dtype)
    for got_ring, exp in zip(got.records["s"].state.rings, want, strict=True):
        np.testing.assert_array_equal(got_ring, exp)
    await other.close()


@settings(max_examples=20, deadline=None)
@given(
    ring_dtype=st.sampled_from(HALF),
    chunks=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8),
)
def test_any_half_delta_sequence_rebuilds_the_rounded_state(
    ring_dtype: str, chunks: list[int]
) -> None:
    data: dict[str, MemoryEntry] = {}
    make = lambda layout: MemoryCacheStore(layout, data=data)  # noqa: E731
    asyncio.run(rebuild_with_deltas(make, ring_dtype, [*chunks, 9]))
