"""Shared helpers: small random specs and models for fast exactness tests."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from tcnad.detector.model import TCN, Weights, fold
from tcnad.detector.spec import TCNSpec

# Tiny tensors: one intra-op thread avoids thread hand-off costs on a shared machine.
torch.set_num_threads(1)


@st.composite
def small_specs(draw: st.DrawFn) -> TCNSpec:
    n_blocks = draw(st.integers(1, 3))
    dilations = tuple(draw(st.lists(st.integers(1, 4), min_size=n_blocks, max_size=n_blocks)))
    return TCNSpec(
        n_inputs=draw(st.integers(1, 2)),
        channels=draw(st.integers(1, 6)),
        kernel_size=draw(st.integers(2, 4)),
        dilations=dilations,
        dropout=0.0,
        quantiles=draw(st.sampled_from([(0.1, 0.5, 0.9), (0.005, 0.025, 0.25, 0.5, 0.75, 0.995)])),
    )


def random_weights(spec: TCNSpec, seed: int) -> Weights:
    """Folded weights of a randomly initialised model, scaled so activations stay O(1)."""
    torch.manual_seed(seed)
    model = TCN(spec).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return fold(model)
