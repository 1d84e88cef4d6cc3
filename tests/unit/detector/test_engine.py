"""Detector engine: exactness against the offline pipeline, state put/get/delta round trips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tcnad.detector.engine import Detector, StepInputError
from tcnad.detector.model import folded_forward
from tcnad.detector.normalize import denormalize, normalize_series
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import DEFAULT_RING_DTYPE, StateDelta, StreamState
from tcnad.state.codec import from_stored
from tests.unit.detector.conftest import random_weights, small_specs

SPEC = TCNSpec(n_inputs=2, channels=4, dilations=(1, 2, 4), dropout=0.0)


def make(
    spec: TCNSpec = SPEC, capacity: int = 8, seed: int = 0, ring_dtype: str = DEFAULT_RING_DTYPE
) -> Detector:
    w = random_weights(spec, seed)
    return Detector(spec, w, capacity=capacity, device="cpu", ring_dtype=ring_dtype)


def test_engine_band_equals_offline_pipeline() -> None:
    det = make(ring_dtype="float32")  # float32 rings: the step is the full forward pass
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, size=(1, 40, 2)).cumsum(axis=1)
    det.put([6], [det.new_state()])
    lowers = []
    for t in range(40):
        lowers.append(det.step([6], x[:, t]).lower[0])
    z, stats = normalize_series(SPEC, x)
    q = folded_forward(SPEC, det.weights, torch.from_numpy(z).float()).double().numpy()
    raw = denormalize(SPEC, stats[0], q[0])  # forecasts made after each reading
    assert np.isnan(lowers[0]).all()
    assert np.allclose(det.pending([6])[0], raw[-1], rtol=1e-5, atol=1e-5)
    # the band scored at t is the forecast made at t-1 (calibration scale starts at 1)
    assert np.allclose(np.array(lowers[1:11]), raw[:10, :, 0], rtol=1e-5, atol=1e-5)


def _states_equal(a: StreamState, b: StreamState) -> bool:
    return (
        a.step == b.step
        and all(np.array_equal(x, y) for x, y in zip(a.rings, b.rings, strict=True))
        and np.array_equal(a.stats, b.stats, equal_nan=True)
    )


def _apply(old: StreamState, d: StateDelta, ring_dtype: str) -> StreamState:
    """``old`` with the rows of ``d`` written, as values (a delta's rows come as the rings
    hold them: float8 and bfloat16 rows as their bits)."""
    assert d.since_step == old.step
    rings = []
    shapes = [ring.shape for ring in old.rings]
    values = dataclasses.replace(d, rows=from_stored(d.rows, ring_dtype))
    for ring, (start, rows) in zip(old.rings, values.ring_rows(shapes), strict=True):
        new = ring.copy()
        for i in range(rows.shape[0]):
            new[(start + i) % ring.shape[0]] = rows[i]
        rings.append(new)
    return StreamState(d.step, tuple(rings), d.stats.copy())


@settings(max_examples=15, deadline=None)
@given(
    spec=small_specs(),
    seed=st.integers(0, 2**16),
    before=st.lists(st.integers(0, 12), min_size=3, max_size=3),
    after=st.lists(st.integers(0, 12), min_size=3, max_size=3),
)
def test_put_get_delta_round_trip(
    spec: TCNSpec, seed: int, before: list[int], after: list[int]
) -> None:
    det = make(spec, capacity=6, seed=seed)
    rng = np.random.default_rng(seed)
    slots = np.array([5, 0, 2])
    det.put(slots, [det.new_state() for _ in slots])
    _run(det, slots, before, rng, spec.n_inputs)
    old = det.get(slots)
    _run(det, slots, after, rng, spec.n_inputs)
    new = det.get(slots)
    deltas = det.delta(slots, [s.step for s in old])
    for o, n, d in zip(old, new, deltas, strict=True):
        assert _states_equal(_apply(o, d, det.layout.ring_dtype), n)
    other = make(spec, capacity=6, seed=seed)
    other.put([1, 3, 4], new)
    assert all(_states_equal(a, b) for a, b in zip(other.get([1, 3, 4]), new, strict=True))
    # continuing from a restored state gives the same results as the original pool
    x = rng.normal(size=(3, spec.n_inputs))
    r1, r2 = det.step(slots, x), other.step([1, 3, 4], x)
    assert np.allclose(det.pending(slots), other.pending([1, 3, 4]), atol=1e-6, equal_nan=True)
    assert np.array_equal(r1.alert, r2.alert)


def _run(
    det: Detector, slots: np.ndarray, counts: list[int], rng: np.random.Generator, n: int
) -> None:
    for r in range(max(counts)):
        active = slots[[r < c for c in counts]]
        if active.size:
            det.step(active, rng.normal(size=(active.size, n)) * 3 + 1)


def test_new_state_matches_layout() -> None:
    det = make()
    st0 = det.new_state()
    assert st0.step == 0 and st0.stats.shape == (det.layout.stats_size,)
    assert det.layout.stats_size <= 210 or SPEC.n_inputs > 1
    assert tuple(r.shape for r in st0.rings) == det.layout.ring_shapes


def test_reference_layout_is_small() -> None:
    spec = TCNSpec()
    det = Detector(spec, random_weights(spec, 0), capacity=2, device="cpu", ring_dtype="float32")
    # normalisation 3, pending quantiles 9, scoring 198 (150 of them the daily profile, 29
    # the recent level, 1 the count flag, 1 the novelty flag, 5 the open alert)
    assert det.layout.stats_size <= 210
    assert det.layout.ring_bytes <= 130 * 1024
    assert det.layout.stats_size * 8 < det.layout.ring_bytes / 50
    default = Detector(spec, random_weights(spec, 0), capacity=2, device="cpu").layout
    assert default.ring_dtype == DEFAULT_RING_DTYPE == "float8_e5m2"
    assert 4 * default.ring_bytes == det.layout.ring_bytes


@pytest.mark.parametrize(
    ("slots", "values"),
    [
        ([0, 0], np.zeros((2, 2))),
        ([8], np.zeros((1, 2))),
        ([-1], np.zeros((1, 2))),
        ([0], np.zeros((1, 3))),
        ([0], np.zeros(2)),
        ([0], np.array([[np.nan, 1.0]])),
        ([0.5], np.zeros((1, 2))),
    ],
)
def test_bad_step_arguments_raise_clear_errors(slots: list[float], values: np.ndarray) -> None:
    with pytest.raises(StepInputError):
        make().step(slots, values)


def test_step_times_must_match_the_batch() -> None:
    det = make()
    with pytest.raises(StepInputError, match="times"):
        det.step([0, 1], np.zeros((2, 2)), np.zeros(3))
    res = det.step([0, 1], np.zeros((2, 2)), np.array([1.6e9, np.nan]))  # NaN: unknown
    assert res.score.shape == (2,)


def test_bad_state_is_rejected() -> None:
    det = make()
    st0 = det.new_state()
    bad = StreamState(0, st0.rings[:-1], st0.stats)
    with pytest.raises(StepInputError):
        det.put([0], [bad])
    with pytest.raises(StepInputError):
        det.delta([0], [3])


def test_empty_batch_is_a_no_op() -> None:
    det = make()
    res = det.step(np.array([], dtype=np.int64), np.zeros((0, 2)))
    assert res.score.shape == (0,) and res.lower.shape == (0, 2)
    assert det.get([]) == [] and det.delta([], []) == []


# How close the GPU's forecasts come to the CPU's: float32 products in another order; with
# float8 rings such a difference may round a ring value one float8 unit the other way, which
# moved this small model's forecasts by up to 0.28 on the CPU (one such unit set by hand in
# 40 runs); not yet run on a GPU. A wrong widening or rounding moves them by far more.
CUDA_ATOL = {"float16": 1e-4, "float8_e5m2": 1.0}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("ring_dtype", sorted(CUDA_ATOL))
def test_cuda_engine_matches_cpu_engine_and_deltas_round_trip(ring_dtype: str) -> None:
    weights = random_weights(SPEC, 11)
    cpu = Detector(SPEC, weights, capacity=6, device="cpu", ring_dtype=ring_dtype)
    gpu = Detector(SPEC, weights, capacity=6, device="cuda", ring_dtype=ring_dtype)
    slots = np.array([4, 1, 2])
    rng = np.random.default_rng(11)
    for det in (cpu, gpu):
        det.put(slots, [det.new_state() for _ in slots])
    _run(cpu, slots, [9, 3, 6], np.random.default_rng(1), 2)
    _run(gpu, slots, [9, 3, 6], np.random.default_rng(1), 2)
    old = gpu.get(slots)
    x = rng.normal(size=(3, 2))
    cpu.step(slots, x)
    gpu.step(slots, x)
    assert np.allclose(cpu.pending(slots), gpu.pending(slots), atol=CUDA_ATOL[ring_dtype])
    new = gpu.get(slots)
    for o, n, d in zip(old, new, gpu.delta(slots, [s.step for s in old]), strict=True):
        assert _states_equal(_apply(o, d, det.layout.ring_dtype), n)


def test_reset_is_put_of_new_states() -> None:
    det = Detector.from_checkpoint(capacity=6)
    other = Detector.from_checkpoint(capacity=6)
    rng = np.random.default_rng(7)
    slots = np.arange(6)
    for _ in range(5):  # slots hold used states first
        vals = rng.normal(size=(6, 1))
        det.step(slots, vals)
        other.step(slots, vals)
    det.reset([1, 4])
    other.put([1, 4], [other.new_state(), other.new_state()])
    assert all(_states_equal(a, b) for a, b in zip(det.get(slots), other.get(slots), strict=True))
    vals = rng.normal(size=(6, 1))
    a, b = det.step(slots, vals), other.step(slots, vals)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.upper, b.upper)
    det.reset([])  # nothing to do
    with pytest.raises(StepInputError):
        det.reset([6])
