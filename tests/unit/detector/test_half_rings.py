"""Rings held in half precision (float16, bfloat16) or as 8-bit floats (float8_e5m2): what
the pool holds is what a store keeps, and the forecasts stay close to float32's over
thousands of steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tcnad.detector import normalize
from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.engine import Detector
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import StateLayout
from tcnad.detector.streaming import RingPool
from tcnad.state.codec import StateCodec, from_stored, to_stored
from tcnad.state.errors import InvalidUpdate
from tests.unit.detector.conftest import random_weights

HALF = ("float16", "bfloat16", "float8_e5m2")
# The shipped model, 4 streams x 3,000 steps: the largest and the mean difference of a
# forecast quantile from float32's, in units of the stream's running standard deviation.
# Measured: float16 0.00078 and 0.000031, bfloat16 0.0047 and 0.00025, float8_e5m2 0.27
# and 0.011 (BENCHMARKS.md has the whole NAB corpus); the bounds leave about six times that.
BOUND = {"float16": 0.005, "bfloat16": 0.03, "float8_e5m2": 1.6}
MEAN_BOUND = {"float16": 0.0002, "bfloat16": 0.0015, "float8_e5m2": 0.07}


def _series(steps: int, streams: int) -> np.ndarray:
    """Random walks with a daily-like cycle, spikes and a level shift: ``(steps, streams)``."""
    rng = np.random.default_rng(7)
    t = np.arange(steps)[:, None]
    x = np.cumsum(rng.normal(size=(steps, streams)), axis=0) * 0.3
    x += 5 * np.sin(2 * np.pi * t / 288 + np.arange(streams))
    x[rng.integers(0, steps, 20), rng.integers(0, streams, 20)] += 25
    x[steps // 2 :, 0] += 40
    return x


@pytest.mark.parametrize("ring_dtype", HALF)
def test_half_rings_forecast_close_to_float32(ring_dtype: str) -> None:
    spec, weights, _ = load_checkpoint(None)
    x = _series(3000, 4)
    pools = {d: RingPool(spec, weights, 4, "cpu", d) for d in ("float32", ring_dtype)}
    stats = normalize.new_norm_stats(spec, 4)
    slots = np.arange(4)
    worst, total, n = 0.0, 0.0, 0
    for t in range(len(x)):
        z, stats = normalize.normalize_step(spec, stats, x[t][:, None])
        zt = torch.from_numpy(z.astype(np.float32))
        ref, got = (pools[d].step(slots, zt) for d in ("float32", ring_dtype))
        # the forecast in raw units is mean + std * q: a difference in q is one in stds
        diff = (got - ref).abs()
        worst = max(worst, float(diff.max()))
        total, n = total + float(diff.sum()), n + diff.numel()
    assert worst < BOUND[ring_dtype], worst
    assert total / n < MEAN_BOUND[ring_dtype], total / n
    assert worst > 0  # the rings really are held in half precision


@pytest.mark.parametrize("ring_dtype", HALF)
def test_a_reloaded_half_state_continues_as_one_kept_in_the_pool(ring_dtype: str) -> None:
    """get -> encode -> decode -> put loses nothing: the pool holds what the store keeps."""
    spec, weights, _ = load_checkpoint(None)
    det = Detector(spec, weights, device="cpu", capacity=4, ring_dtype=ring_dtype)
    assert det.layout.ring_dtype == ring_dtype
    wide = StateLayout(spec.ring_shapes, 1, "m").ring_bytes  # float32
    assert det.layout.ring_bytes * 4 == wide * det.layout.ring_itemsize
    codec = StateCodec(det.layout)
    x = _series(400, 2)
    det.reset(np.arange(4))
    for t in range(300):
        det.step(np.array([0, 1]), x[t][:, None])
    states = det.get(np.array([0, 1]))
    for st in states:
        for ring in st.rings:  # float32 arrays holding values the dtype represents
            back = from_stored(to_stored(ring, ring_dtype), ring_dtype)
            assert np.array_equal(back.reshape(ring.shape), ring)
    decoded = [codec.decode_rings(codec.encode_rings(st.rings)) for st in states]
    # float16 and float8: float16 values, which the rings take without widening
    want = np.float32 if ring_dtype == "bfloat16" else np.float16
    assert all(r.dtype == want for rings in decoded for r in rings)
    for st, rings in zip(states, decoded, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(st.rings, rings, strict=True))
    det.put(
        np.array([2, 3]),
        [type(st)(st.step, r, st.stats) for st, r in zip(states, decoded, strict=True)],
    )
    for t in range(300, 400):
        a = det.step(np.array([0, 1]), x[t][:, None])
        b = det.step(np.array([2, 3]), x[t][:, None])
        assert np.array_equal(a.score, b.score)
        assert np.array_equal(det.pending(np.array([0, 1])), det.pending(np.array([2, 3])))
    deltas = det.delta(np.array([0, 2]), np.array([350, 350]))
    assert np.array_equal(deltas[0].rows, deltas[1].rows)
    assert codec.encode_rows(deltas[0]) == codec.encode_rows(deltas[1])


@pytest.mark.parametrize("ring_dtype", HALF)
def test_half_pool_rounds_like_torch_and_the_codec(ring_dtype: str) -> None:
    """What the step writes is the float32 input rounded by torch; the codec's rounding of
    the same float32 values gives the same bits (so the store may round either)."""
    spec = TCNSpec(n_inputs=1, channels=4, kernel_size=3, dilations=(1, 2), dropout=0.0)
    weights = random_weights(spec, 3)
    pool = RingPool(spec, weights, 3, "cpu", ring_dtype)
    ref = RingPool(spec, weights, 3, "cpu", "float32")
    z = torch.randn(1, spec.n_inputs, generator=torch.Generator().manual_seed(1)) * 3
    pool.step(np.array([1]), z)
    ref.step(np.array([1]), z)
    for j in range(spec.n_convs):
        wrote = ref.read(np.array([1]))[j]
        rounded = torch.from_numpy(wrote).to(getattr(torch, ring_dtype)).float().numpy()
        assert np.array_equal(pool.read(np.array([1]))[j], rounded)
        back = from_stored(to_stored(wrote, ring_dtype), ring_dtype)
        assert np.array_equal(back.reshape(rounded.shape), rounded)


@pytest.mark.parametrize("ring_dtype", ["float32", *HALF])
def test_delta_rows_come_as_the_rings_hold_them_and_encode_to_the_same_bytes(
    ring_dtype: str,
) -> None:
    """A detector's delta carries its rows in the rings' stored form (no widening to float32
    and rounding back for the store); a delta of the same rows as float32 values encodes to
    the same bytes."""
    spec, weights, _ = load_checkpoint(None)
    det = Detector(spec, weights, device="cpu", capacity=3, ring_dtype=ring_dtype)
    codec = StateCodec(det.layout)
    x = _series(60, 3)
    det.reset(np.arange(3))
    for t in range(60):
        det.step(np.array([0, 1, 2]), x[t][:, None])
    stored = {
        "float32": np.float32,
        "float16": np.float16,
        "bfloat16": np.uint16,
        "float8_e5m2": np.uint8,
    }[ring_dtype]
    for since in (59, 50, 0):  # one step, several, more than the shortest rings hold
        for d in det.delta(np.array([0, 1, 2]), np.full(3, since)):
            assert d.rows.dtype == stored
            widened = from_stored(d.rows, ring_dtype)  # float32 values
            assert widened.dtype == np.float32
            as_values = type(d)(d.since_step, d.step, d.stats, widened)
            assert codec.encode_rows(d) == codec.encode_rows(as_values)
            assert len(codec.encode_rows(d)) == d.rows.size * det.layout.ring_itemsize
            assert np.abs(widened).max() > 0  # rows that hold readings' features


def test_rows_of_another_form_are_refused() -> None:
    """A delta whose rows are integers that are not the layout's stored form is an error,
    not bytes reinterpreted."""
    spec, weights, _ = load_checkpoint(None)
    det = Detector(spec, weights, device="cpu", capacity=1, ring_dtype="float16")
    det.reset(np.arange(1))
    det.step(np.array([0]), np.array([[1.0]]))
    (d,) = det.delta(np.array([0]), np.array([0]))
    bad = type(d)(d.since_step, d.step, d.stats, d.rows.view(np.uint16))
    with pytest.raises(InvalidUpdate, match="stored form"):
        StateCodec(det.layout).encode_rows(bad)
