"""What storing only each block's input ring would cost and save (a design, not built).

A block's second convolution reads the first one's outputs at ``t - 2d, t - d`` and ``t``;
those are a function of the block's inputs at ``t - 4d .. t``. So if Redis kept each
block's input ring ``4d`` deep instead of ``2d``, and no ring of first-convolution
outputs, a save would send one row per block instead of two, and a load would rebuild the
missing rings with one convolution per block. This script, with the shipped model:

1. checks the rebuild: a ``RingPool`` (float32 rings) is stepped over random readings, the
   first-convolution rings are rebuilt from the block inputs of the same readings, and the
   largest difference is printed;
2. prints the ring-row bytes a one-reading save sends, today and in that design, in the
   default ring dtype;
3. times the rebuild per stream with one torch thread, for loads of 1, 64 and 1,024 streams
   (best of ``--repeat``), to set against a load's cost today (BENCHMARKS.md, "State store").

Asserts nothing. Run: .venv/bin/python -m tests.benchmarks.derived_rings [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.model import Weights
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import DEFAULT_RING_DTYPE, RING_ITEMSIZE
from tcnad.detector.streaming import RingPool


def block_inputs(spec: TCNSpec, weights: Weights, z: torch.Tensor) -> list[torch.Tensor]:
    """Each block's input over the whole series, ``(B, C_b, T)``; z: ``(B, T, N)``."""
    out, h = [], z.transpose(1, 2)
    for b, d in enumerate(spec.dilations):
        out.append(h)
        x = h
        for j in (2 * b, 2 * b + 1):
            w, bias = weights[f"conv{j}.weight"], weights[f"conv{j}.bias"]
            pad = (spec.kernel_size - 1) * d
            h = F.relu(F.conv1d(F.pad(h, (pad, 0)), w, bias, dilation=d))
        if f"down{b}.weight" in weights:
            x = F.conv1d(x, weights[f"down{b}.weight"].unsqueeze(-1), weights[f"down{b}.bias"])
        h = F.relu(h + x)
    return out


def rebuild(spec: TCNSpec, weights: Weights, deep: list[torch.Tensor]) -> list[torch.Tensor]:
    """First-convolution outputs of the last ``2d`` readings of each block, ``(B, C, 2d)``,
    from its inputs over the last ``4d`` readings, ``deep[b]``: ``(B, C_b, 4d)``."""
    out = []
    for b, (x, d) in enumerate(zip(deep, spec.dilations, strict=True)):
        w, bias = weights[f"conv{2 * b}.weight"], weights[f"conv{2 * b}.bias"]
        out.append(F.relu(F.conv1d(x, w, bias, dilation=d)))
    return out


def check(spec: TCNSpec, weights: Weights, streams: int, length: int) -> float:
    """Largest difference between a pool's first-convolution rings after ``length``
    readings and the same rings rebuilt from the block inputs."""
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.normal(size=(streams, length, spec.n_inputs)).astype(np.float32))
    pool = RingPool(spec, weights, streams, device="cpu", ring_dtype="float32")
    slots = np.arange(streams)
    for t in range(length):
        pool.step(slots, z[:, t])
    inputs = block_inputs(spec, weights, z)
    worst = 0.0
    with torch.inference_mode():
        deep = [x[:, :, -4 * d :] for x, d in zip(inputs, spec.dilations, strict=True)]
        rebuilt = rebuild(spec, weights, deep)
    rings = pool.read(slots)
    for b, d in enumerate(spec.dilations):
        got = rings[2 * b + 1]  # (B, 2d, C): row t % 2d holds time t
        times = np.arange(length - 2 * d, length)
        want = rebuilt[b].numpy()  # (B, C, 2d), times in order
        diff = np.abs(got[:, times % (2 * d), :] - want.transpose(0, 2, 1))
        worst = max(worst, float(diff.max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec, weights, _ = load_checkpoint()
    worst = check(spec, weights, 4, spec.receptive_field + 300)
    print(f"rebuild check: largest difference {worst:.2e} (float32 rings)")
    size = RING_ITEMSIZE[DEFAULT_RING_DTYPE]
    today = sum(ch for _, ch in spec.ring_shapes) * size
    derived = sum(ch for _, ch in spec.ring_shapes[0::2]) * size
    print(
        f"ring rows per one-reading save, {DEFAULT_RING_DTYPE}: {today} bytes today, "
        f"{derived} with block inputs only ({today - derived} fewer); rings per stream "
        f"{sum(n * c for n, c in spec.ring_shapes) * size} bytes today, "
        f"{sum(2 * n * c for n, c in spec.ring_shapes[0::2]) * size} then"
    )
    for n in (1, 64, 1024):
        deep = [
            torch.randn(n, spec.n_inputs if b == 0 else spec.channels, 4 * d)
            for b, d in enumerate(spec.dilations)
        ]
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with torch.inference_mode():
                rebuild(spec, weights, deep)
            best = min(best, time.perf_counter() - t0)
        print(f"rebuild on load, {n:5d} streams: {best * 1e6 / n:7.1f} us per stream")


if __name__ == "__main__":
    main()
