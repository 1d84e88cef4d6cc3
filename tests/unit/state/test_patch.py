"""Stats patches (``tcnad.state.patch``): what a save sends instead of a whole meta body."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcnad.state.patch import BASE_BYTES, POS_BYTES, RECORD, apply_patch, encode_patches

POS = struct.Struct("<qqdQ")


def body(step: int, offset: int, stats: np.ndarray) -> bytes:
    return POS.pack(step, offset, float(step), 7) + stats.astype("<f8").tobytes()


def records(patch: bytes) -> list[tuple[int, int]]:
    """``(start, count)`` of each record of ``patch``."""
    out, i = [], POS_BYTES + BASE_BYTES
    while i < len(patch):
        start, count = RECORD.unpack_from(patch, i)
        out.append((start, count))
        i += RECORD.size + 8 * count
    return out


def test_a_patch_names_its_base_and_carries_the_new_position():
    old, new = np.arange(10.0), np.arange(10.0)
    new[3] = -1.0
    (patch,) = encode_patches([body(5, 40, old)], [body(6, 41, new)], 10)
    assert patch[:POS_BYTES] == body(6, 41, new)[:POS_BYTES]
    assert patch[POS_BYTES : POS_BYTES + BASE_BYTES] == body(5, 40, old)[8:POS_BYTES]
    assert records(patch) == [(3, 1)]
    assert patch[-8:] == struct.pack("<d", -1.0)


def test_runs_one_float_apart_are_one_record_and_farther_apart_two():
    old = np.zeros(12)
    new = old.copy()
    new[[1, 3, 4, 9]] = 1.0  # 1 and 3 are one apart; 4 and 9 are not
    (patch,) = encode_patches([body(1, 0, old)], [body(2, 1, new)], 12)
    assert records(patch) == [(1, 4), (9, 1)]
    assert apply_patch(body(1, 0, old), patch) == body(2, 1, new)


def test_nothing_changed_is_the_position_and_the_base_alone():
    stats = np.arange(6.0)
    (patch,) = encode_patches([body(1, 0, stats)], [body(2, 1, stats)], 6)
    assert len(patch) == POS_BYTES + BASE_BYTES
    assert apply_patch(body(1, 0, stats), patch) == body(2, 1, stats)


def test_the_first_and_last_float_and_all_of_them():
    old = np.zeros(5)
    for changed in ([0], [4], [0, 4], list(range(5))):
        new = old.copy()
        new[changed] = 2.5
        (patch,) = encode_patches([body(1, 0, old)], [body(2, 1, new)], 5)
        assert apply_patch(body(1, 0, old), patch) == body(2, 1, new), changed


def test_a_nan_that_stays_nan_is_unchanged_and_one_that_changes_bits_is_sent():
    old = np.array([np.nan, 1.0, 2.0])
    (patch,) = encode_patches([body(1, 0, old)], [body(2, 1, old.copy())], 3)
    assert records(patch) == []  # compared as bits, not as floats (nan != nan)
    new = old.copy()
    new[0] = 0.0
    (patch,) = encode_patches([body(1, 0, old)], [body(2, 1, new)], 3)
    assert records(patch) == [(0, 1)]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=40),
    st.lists(st.lists(st.integers(min_value=0, max_value=39), max_size=40), min_size=1, max_size=9),
)
def test_a_batch_of_patches_rebuilds_every_body(size: int, changes: list[list[int]]):
    rng = np.random.default_rng(size)
    bases, bodies = [], []
    for n, changed in enumerate(changes):
        old = rng.normal(size=size)
        new = old.copy()
        at = [c for c in changed if c < size]
        new[at] = rng.normal(size=len(at))
        bases.append(body(n + 1, n, old))
        bodies.append(body(n + 2, n + 1, new))
    patches = encode_patches(bases, bodies, size)
    assert [apply_patch(b, p) for b, p in zip(bases, patches, strict=True)] == bodies
    # one at a time gives the same bytes as all at once
    singles = [encode_patches([b], [n], size)[0] for b, n in zip(bases, bodies, strict=True)]
    assert singles == patches


def test_bodies_of_the_wrong_size_are_refused():
    with pytest.raises(ValueError, match="bytes"):
        encode_patches([body(1, 0, np.zeros(3))], [body(2, 1, np.zeros(4))], 3)
    with pytest.raises(ValueError, match="bases"):
        encode_patches([], [body(2, 1, np.zeros(3))], 3)
    assert encode_patches([], [], 3) == []


def test_a_malformed_patch_is_refused():
    base = body(1, 0, np.zeros(4))
    head = body(2, 1, np.zeros(4))[:POS_BYTES] + base[8:POS_BYTES]
    for bad in (
        head + RECORD.pack(4, 1) + bytes(8),  # beyond the stats
        head + RECORD.pack(2, 1) + bytes(8) + RECORD.pack(1, 1) + bytes(8),  # out of order
        head + RECORD.pack(0, 0),  # empty record
        head + RECORD.pack(0, 2) + bytes(8),  # shorter than it says
        head + b"\x00\x00",  # a cut header
    ):
        with pytest.raises(ValueError):
            apply_patch(base, bad)
