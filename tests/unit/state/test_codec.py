"""The codec's bytes, the save decision and the generated Lua script (no network)."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcnad.detector.errors import DetectorError
from tcnad.detector.state import StateLayout
from tcnad.state import (
    CorruptState,
    IncompatibleState,
    InvalidUpdate,
    MemoryCacheStore,
    RedisCacheStore,
    StateCodec,
    StoreUnavailable,
    state_delta,
)
from tcnad.state.base import Outcome, decide
from tcnad.state.codec import FORMAT_VERSION, describe_header, fingerprint
from tcnad.state.lua import lua_bytes, save_script
from tcnad.state.redis_store import resp_size, stream_keys
from tcnad.state.types import UNKNOWN_SOURCE, source_id
from tests.state_fixtures import expected_state, reference_layout, synthetic_update

LAYOUT = reference_layout()
CODEC = StateCodec(LAYOUT)


def test_reference_layout_sizes() -> None:
    assert len(LAYOUT.ring_shapes) == 16
    assert LAYOUT.ring_shapes[0] == (2, 1) and LAYOUT.ring_shapes[-1] == (256, 32)
    assert CODEC.ring_base[1] == 2 * 1 * 4
    assert CODEC.ring_base[-1] + 256 * 32 * 4 == LAYOUT.ring_bytes


def test_meta_is_small_and_self_describing() -> None:
    src = source_id("readings", 3)
    meta = CODEC.encode_meta(7, 41, 1.5, np.arange(float(LAYOUT.stats_size)), src)
    assert (
        len(meta) == CODEC.meta_size == 4 + 2 + 4 + 1 + len("ref0001") + 32 + 8 * LAYOUT.stats_size
    )
    assert meta[:4] == b"TCNS" and struct.unpack_from("<H", meta, 4)[0] == FORMAT_VERSION == 2
    assert struct.unpack_from("<I", meta, 6)[0] == fingerprint(LAYOUT)
    assert describe_header(meta) == f"model 'ref0001' (format 2, layout {fingerprint(LAYOUT):08x})"
    record = CODEC.decode("s", meta, b"\0" * 8)
    assert record is not None
    assert (record.state.step, record.offset, record.timestamp) == (7, 41, 1.5)
    assert record.source == src
    np.testing.assert_array_equal(record.state.stats, np.arange(float(LAYOUT.stats_size)))


def test_fingerprint_covers_shapes_and_stats() -> None:
    other = StateLayout((*LAYOUT.ring_shapes[:-1], (256, 16)), LAYOUT.stats_size, "ref0001")
    assert fingerprint(other) != fingerprint(LAYOUT)
    assert fingerprint(StateLayout(LAYOUT.ring_shapes, 21, "ref0001")) != fingerprint(LAYOUT)
    meta = StateCodec(other).encode_meta(1, 0, 0.0, np.zeros(LAYOUT.stats_size))
    with pytest.raises(IncompatibleState, match="layout"):
        CODEC.decode("s", meta, b"")


def test_rings_are_little_endian_row_major_at_known_offsets() -> None:
    state = expected_state(LAYOUT, "s", 600)
    blob = CODEC.encode_rings(state.rings)
    assert len(blob) == LAYOUT.ring_bytes
    j, slot = 5, 3
    row = blob[CODEC.ring_base[j] + slot * 128 : CODEC.ring_base[j] + (slot + 1) * 128]
    np.testing.assert_array_equal(np.frombuffer(row, "<f4"), state.rings[j][slot])
    for got, want in zip(CODEC.decode_rings(blob), state.rings, strict=True):
        np.testing.assert_array_equal(got, want)


def test_ring_writes_split_a_wrapping_range() -> None:
    codec = StateCodec(StateLayout(((4, 2),), 1, "m"))
    assert [(w.dst, w.src, w.length) for w in codec.ring_writes(2, 5)] == [(16, 0, 16), (0, 16, 8)]
    assert [(w.dst, w.src, w.length) for w in codec.ring_writes(0, 9)] == [(8, 0, 24), (0, 24, 8)]
    assert codec.ring_writes(3, 3) == []


@pytest.mark.parametrize(("since", "step"), [(0, 1), (3, 4), (250, 600), (0, 0)])
def test_state_delta_reads_the_changed_rows(since: int, step: int) -> None:
    delta = state_delta(expected_state(LAYOUT, "s", step), since)
    want = synthetic_update(LAYOUT, "s", since, step).delta
    assert (delta.since_step, delta.step) == (since, step)
    got_rows, want_rows = delta.ring_rows(LAYOUT.ring_shapes), want.ring_rows(LAYOUT.ring_shapes)
    for (s0, rows), (s1, rows1) in zip(got_rows, want_rows, strict=True):
        assert s0 == s1
        np.testing.assert_array_equal(rows, rows1)


def test_corrupt_and_foreign_bytes_raise_clear_errors() -> None:
    meta = CODEC.encode_meta(5, 1, 1.0, np.zeros(LAYOUT.stats_size))
    with pytest.raises(CorruptState, match="rings are 0 bytes at step 5"):
        CODEC.decode("s", meta, None)
    with pytest.raises(CorruptState, match="meta is"):
        CODEC.decode("s", meta + b"x", b"1234")
    with pytest.raises(IncompatibleState, match="not a tcnad state") as info:
        CODEC.decode("s", b"\x00garbage", None)
    assert "on_incompatible='reset'" in str(info.value)
    assert isinstance(info.value, DetectorError) and not info.value.retriable


def test_invalid_updates_are_refused() -> None:
    update = synthetic_update(LAYOUT, "s", 0, 3)
    with pytest.raises(InvalidUpdate, match="stats shape"):
        CODEC.encode_body(1, 0, 0.0, np.zeros(3))
    with pytest.raises(InvalidUpdate, match="layout has 16"):
        CODEC.encode_rings(tuple(r for _, r in update.delta.ring_rows(LAYOUT.ring_shapes)[1:]))
    backwards = type(update)("s", type(update.delta)(5, 3, update.delta.stats, np.zeros(0)), 0, 0.0)
    with pytest.raises(InvalidUpdate, match="out of range"):
        CODEC.encode_update(backwards)
    with pytest.raises(InvalidUpdate, match="model id"):
        StateCodec(StateLayout(((2, 1),), 1, ""))


def test_decide_mirrors_the_lua_rules() -> None:
    body = CODEC.encode_body(4, 9, 1.0, np.zeros(LAYOUT.stats_size))
    stored = CODEC.header + CODEC.encode_body(2, 7, 0.5, np.zeros(LAYOUT.stats_size))
    assert decide(CODEC, "reset", None, 0, body) is Outcome.APPLIED
    assert decide(CODEC, "reset", None, 2, body) is Outcome.FENCED
    assert decide(CODEC, "reset", stored, 2, body) is Outcome.APPLIED
    assert decide(CODEC, "reset", stored, 1, body) is Outcome.FENCED
    assert decide(CODEC, "reset", CODEC.header + body, 2, body) is Outcome.ALREADY_APPLIED
    assert decide(CODEC, "reset", b"foreign", 0, body) is Outcome.APPLIED
    assert decide(CODEC, "error", b"foreign", 0, body) is Outcome.FENCED
    assert decide(CODEC, "reset", b"foreign", 3, body) is Outcome.FENCED


def test_save_script_embeds_the_layout() -> None:
    script = save_script(CODEC, reset=True, ttl_ms=5000)
    assert lua_bytes(CODEC.header) in script and "local TTL = 5000" in script
    assert f"local SIZE = {CODEC.meta_size}" in script and "local RESET = true" in script
    assert f"{{{CODEC.ring_base[-1]}, 256, 128}}" in script
    decoded = bytes(int(script_byte) for script_byte in lua_bytes(b"\x00\xffA").split("\\")[1:])
    assert decoded == b"\x00\xffA"


def test_keys_and_wire_size() -> None:
    assert stream_keys("tcnad", "a:b") == ("tcnad:{a:b}:meta", "tcnad:{a:b}:rings")
    with pytest.raises(ValueError):
        stream_keys("tcnad", "")
    assert resp_size(("SET", "k", b"\x00\x01")) == len(
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\0\1\r\n"
    )


def test_store_unavailable_names_streams() -> None:
    err = StoreUnavailable("save", [f"s{i}" for i in range(8)], ConnectionError("refused"))
    assert err.retriable and err.streams[0] == "s0"
    assert "8 stream(s)" in str(err) and "and 3 more" in str(err) and "refused" in str(err)


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12),
    replay=st.integers(min_value=0, max_value=11),
)
def test_any_delta_sequence_rebuilds_the_state(chunks: list[int], replay: int) -> None:
    """Saving deltas of any sizes (with one batch replayed) gives exactly the full state."""
    layout = StateLayout(((2, 1), (2, 3), (4, 3), (8, 3), (16, 2)), 3, "prop")

    async def run() -> None:
        store = MemoryCacheStore(layout)
        step = 0
        for i, chunk in enumerate(chunks):
            update = synthetic_update(layout, "s", step, step + chunk)
            assert (await store.save([update])).saved == ["s"]
            if i == replay:
                assert (await store.save([update])).saved == ["s"]
            step += chunk
            record = (await store.load(["s"])).records.get("s")
            if step == 0 and record is None:
                continue
            assert record is not None
            want = expected_state(layout, "s", step)
            for got, exp in zip(record.state.rings, want.rings, strict=True):
                np.testing.assert_array_equal(got, exp)

    asyncio.run(run())


def test_redis_store_settings_are_checked_without_connecting() -> None:
    with pytest.raises(ValueError, match="namespace"):
        RedisCacheStore("redis://127.0.0.1:1/0", LAYOUT, namespace="a{b}")
    with pytest.raises(ValueError, match="ttl_s"):
        RedisCacheStore("redis://127.0.0.1:1/0", LAYOUT, ttl_s=0)
    with pytest.raises(ValueError, match="on_incompatible"):
        RedisCacheStore("redis://127.0.0.1:1/0", LAYOUT, on_incompatible="ignore")
    with pytest.raises(ValueError, match="on_incompatible"):
        MemoryCacheStore(LAYOUT, on_incompatible="maybe")


def format1_meta(step: int, offset: int, ts: float, stats: np.ndarray) -> bytes:
    """A meta record as format 1 wrote it: no source in the body."""
    head = CODEC.old_header
    assert head[4:6] == struct.pack("<H", 1) and head[6:] == CODEC.header[6:]
    return head + struct.pack("<qqd", step, offset, ts) + stats.astype("<f8").tobytes()


def test_a_format1_state_reads_with_an_unknown_source() -> None:
    stats = np.arange(float(LAYOUT.stats_size))
    record = CODEC.decode("s", format1_meta(7, 41, 1.5, stats), b"\0" * 8)
    assert record is not None
    assert (record.state.step, record.offset, record.timestamp) == (7, 41, 1.5)
    assert record.source == UNKNOWN_SOURCE
    np.testing.assert_array_equal(record.state.stats, stats)
    assert CODEC.stored_step(format1_meta(7, 41, 1.5, stats)) == 7


def test_a_format1_meta_of_the_wrong_size_is_corrupt() -> None:
    meta = format1_meta(7, 41, 1.5, np.zeros(LAYOUT.stats_size))
    with pytest.raises(CorruptState):
        CODEC.decode("s", meta + b"\0", b"\0" * 8)
    assert CODEC.stored_step(meta[:-1]) is None


def test_source_ids_differ_by_topic_and_partition_and_are_never_unknown() -> None:
    ids = {source_id(t, p) for t in ("readings", "readings2", "a") for p in range(8)}
    assert len(ids) == 24 and UNKNOWN_SOURCE not in ids
    assert source_id("readings", 3) == source_id("readings", 3)
