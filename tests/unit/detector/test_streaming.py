"""The streaming step equals the full causal forward pass (the project's key invariant)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tcnad.detector.model import TCN, fold, folded_forward
from tcnad.detector.spec import TCNSpec
from tcnad.detector.streaming import RingPool
from tests.unit.detector.conftest import random_weights, small_specs

TOL = 1e-5


@settings(max_examples=25, deadline=None)
@given(spec=small_specs(), seed=st.integers(0, 2**16), t_len=st.integers(1, 24))
def test_step_equals_full_forward(spec: TCNSpec, seed: int, t_len: int) -> None:
    weights = random_weights(spec, seed)
    z = torch.randn(2, t_len, spec.n_inputs, generator=torch.Generator().manual_seed(seed))
    full = folded_forward(spec, weights, z)
    pool = RingPool(spec, weights, capacity=5, device="cpu")
    slots = np.array([3, 1])
    stepped = torch.stack([pool.step(slots, z[:, t]) for t in range(t_len)], dim=1)
    assert torch.allclose(stepped, full, atol=TOL, rtol=0)


@settings(max_examples=20, deadline=None)
@given(
    spec=small_specs(),
    seed=st.integers(0, 2**16),
    starts=st.lists(st.integers(0, 15), min_size=2, max_size=4),
)
def test_staggered_streams_share_batches(spec: TCNSpec, seed: int, starts: list[int]) -> None:
    """Streams start at different times; each global tick steps only the started ones, so
    a batch mixes streams at different positions and slot order varies."""
    weights = random_weights(spec, seed)
    t_len = 20
    n_streams = len(starts)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n_streams, t_len, spec.n_inputs, generator=gen)
    full = folded_forward(spec, weights, z)
    pool = RingPool(spec, weights, capacity=n_streams + 3, device="cpu")
    slot_of = np.random.default_rng(seed).permutation(n_streams + 3)[:n_streams]
    got = torch.zeros_like(full)
    for tick in range(max(starts) + t_len):
        active = [s for s in range(n_streams) if starts[s] <= tick < starts[s] + t_len]
        if not active:
            continue
        active = list(np.random.default_rng(seed + tick).permutation(active))
        pos = [tick - starts[s] for s in active]
        out = pool.step(slot_of[active], z[active, pos])
        got[active, pos] = out
    assert torch.allclose(got, full, atol=TOL, rtol=0)


@settings(max_examples=15, deadline=None)
@given(spec=small_specs(), seed=st.integers(0, 2**16), cut=st.integers(1, 15))
def test_future_inputs_never_change_past_outputs(spec: TCNSpec, seed: int, cut: int) -> None:
    weights = random_weights(spec, seed)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(1, 16, spec.n_inputs, generator=gen)
    z2 = z.clone()
    z2[:, cut:] = torch.randn(1, 16 - cut, spec.n_inputs, generator=gen) * 10
    a, b = folded_forward(spec, weights, z), folded_forward(spec, weights, z2)
    assert torch.equal(a[:, :cut], b[:, :cut])


@settings(max_examples=15, deadline=None)
@given(spec=small_specs(), seed=st.integers(0, 2**16))
def test_quantiles_never_cross(spec: TCNSpec, seed: int) -> None:
    weights = random_weights(spec, seed)
    z = torch.randn(3, 12, spec.n_inputs, generator=torch.Generator().manual_seed(seed)) * 5
    q = folded_forward(spec, weights, z)
    assert bool((q[..., 1:] >= q[..., :-1]).all())


@settings(max_examples=10, deadline=None)
@given(spec=small_specs(), seed=st.integers(0, 2**16))
def test_training_module_equals_folded_weights(spec: TCNSpec, seed: int) -> None:
    torch.manual_seed(seed)
    model = TCN(spec).eval()
    z = torch.randn(2, 10, spec.n_inputs)
    with torch.no_grad():
        assert torch.allclose(model(z), folded_forward(spec, fold(model), z), atol=TOL)


def test_reference_spec_steps_exactly() -> None:
    spec = TCNSpec(dropout=0.0)
    weights = random_weights(spec, 0)
    weights = {k: v * 0.3 for k, v in weights.items()}
    z = torch.randn(2, 1100, 1, generator=torch.Generator().manual_seed(0))
    full = folded_forward(spec, weights, z)
    pool = RingPool(spec, weights, capacity=2, device="cpu")
    stepped = torch.stack([pool.step(np.array([0, 1]), z[:, t]) for t in range(1100)], 1)
    scale = full.abs().max().clamp_min(1.0)
    assert torch.allclose(stepped / scale, full / scale, atol=TOL, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_step_equals_full_forward() -> None:
    spec = TCNSpec(n_inputs=2, channels=16, dilations=(1, 2, 4, 8), dropout=0.0)
    weights = random_weights(spec, 7)
    z = torch.randn(3, 60, 2, generator=torch.Generator().manual_seed(7))
    full = folded_forward(spec, weights, z)
    pool = RingPool(spec, weights, capacity=4, device="cuda")
    slots = np.array([2, 0, 3])
    stepped = torch.stack([pool.step(slots, z[:, t]).cpu() for t in range(60)], dim=1)
    assert torch.allclose(stepped, full, atol=TOL, rtol=0)


@pytest.mark.parametrize("ring_dtype", ["float32", "float8_e5m2"])
def test_a_stream_stepped_alone_is_stepped_as_in_a_batch(ring_dtype: str) -> None:
    """A single-stream step is computed as two equal rows: its arithmetic, and so what its
    rings round to, is that of a step it shares with another stream (a single row would
    take another matrix kernel, which rounds differently in some BLAS builds)."""
    spec = TCNSpec(n_inputs=1, channels=16, dilations=(1, 2, 4, 8), dropout=0.0)
    weights = random_weights(spec, 5)
    z = torch.randn(2, 80, 1, generator=torch.Generator().manual_seed(5)) * 2
    alone = RingPool(spec, weights, capacity=2, device="cpu", ring_dtype=ring_dtype)
    paired = RingPool(spec, weights, capacity=2, device="cpu", ring_dtype=ring_dtype)
    for t in range(80):
        a = torch.cat([alone.step(np.array([k]), z[k : k + 1, t]) for k in (0, 1)])
        b = paired.step(np.array([0, 1]), z[:, t])
        assert torch.equal(a, b), t
    for x, y in zip(alone.read(np.array([0, 1])), paired.read(np.array([0, 1])), strict=True):
        assert np.array_equal(x, y)
