"""Detector benchmarks: streaming step vs naive re-run, step throughput, cache bytes.

Run: python tests/benchmarks/bench_detector.py [--threads 2] [--device cpu,cuda]
Prints numbers; asserts nothing. Ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from detector.engine import Detector
from detector.model import TCN, Weights, fold, folded_forward
from detector.spec import TCNSpec
from detector.streaming import RingPool


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device, min_s: float, min_reps: int) -> float:
    """Seconds per call: warm up, then repeat until ``min_s`` and ``min_reps`` are reached."""
    for _ in range(3):
        fn()
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_s:
        fn()
        reps += 1
    _sync(device)
    return (time.perf_counter() - t0) / reps


def _pool(spec: TCNSpec, weights: Weights, batch: int, device: torch.device) -> RingPool:
    pool = RingPool(spec, weights, capacity=batch, device=device)
    pool.steps[:] = np.random.default_rng(0).integers(0, 5000, batch)  # mixed positions
    return pool


def _naive_step(spec: TCNSpec, w: Weights, window: torch.Tensor, z: torch.Tensor) -> None:
    """The textbook buffer approach: shift the last RF inputs, re-run the whole network."""
    with torch.inference_mode():
        window[:, :-1] = window[:, 1:].clone()
        window[:, -1] = z
        folded_forward(spec, w, window)[:, -1]


def naive_vs_streaming(spec: TCNSpec, weights: Weights, device: torch.device) -> None:
    rf = spec.receptive_field
    print(f"\n(a) streaming step vs naive re-run over the last RF={rf} inputs, device={device}")
    w = {k: v.to(device) for k, v in weights.items()}
    for batch in (1, 64):
        pool = _pool(spec, weights, batch, device)
        slots = np.arange(batch)
        z = torch.randn(batch, spec.n_inputs, device=device)
        window = torch.randn(batch, rf, spec.n_inputs, device=device)

        t_step = _time(partial(pool.step, slots, z), device, 1.0, 20)
        t_naive = _time(partial(_naive_step, spec, w, window, z), device, 2.0, 3)
        print(
            f"  B={batch:5d}  step {t_step * 1e3:8.3f} ms  naive {t_naive * 1e3:9.2f} ms  "
            f"ratio {t_naive / t_step:7.1f}x"
        )


def throughput(spec: TCNSpec, weights: Weights, device: torch.device) -> None:
    print(f"\n(b) batched step throughput, device={device}")
    for batch in (1, 64, 1024, 8192):
        pool = _pool(spec, weights, batch, device)
        slots = np.arange(batch)
        z = torch.randn(batch, spec.n_inputs, device=device)
        t_step = _time(partial(pool.step, slots, z), device, 2.0, 10)
        det = Detector(spec, weights, device=device, capacity=batch)
        vals = np.random.default_rng(1).normal(size=(batch, spec.n_inputs))
        t_eng = _time(partial(det.step, slots, vals), device, 2.0, 10)
        print(
            f"  B={batch:5d}  TCN step {batch / t_step:12,.0f} readings/s   "
            f"Detector.step (score+normalise+step) {batch / t_eng:12,.0f} readings/s"
        )


def cache_bytes(spec: TCNSpec, weights: Weights) -> None:
    det = Detector(spec, weights, device="cpu", capacity=1)
    rings, stats = det.layout.ring_bytes, det.layout.stats_size * 8
    print("\n(c) state per stream, reference spec")
    print(f"  rings float32: {rings:,} bytes ({rings / 1024:.1f} KiB), stats: {stats} bytes")
    print(f"  bytes changed per reading: rings {sum(c * 4 for _, c in spec.ring_shapes)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu,cuda", help="comma list; cuda skipped if absent")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = TCNSpec()
    torch.manual_seed(0)
    weights = fold(TCN(spec).eval())
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, threads {args.threads}, {cpu}")
    for name in args.device.split(","):
        if name == "cuda" and not torch.cuda.is_available():
            print("\n(cuda not available: skipped)")
            continue
        device = torch.device(name)
        if device.type == "cuda":
            print(f"\nGPU: {torch.cuda.get_device_name(device)}")
        naive_vs_streaming(spec, weights, device)
        throughput(spec, weights, device)
    cache_bytes(spec, weights)


if __name__ == "__main__":
    main()
