"""What another model costs against the shipped one: the TCN step and ``Detector.step`` at
B=1024, the two models in turns (32-48-48-32, twice; best of four each, so the figures
compare as a ratio measured in one run), and the bytes of state per stream.

Run: .venv/bin/python -m tests.benchmarks.model_cost --against CHECKPOINT_STEM
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch

from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.engine import Detector
from tests.benchmarks.bench_detector import _pool, _time

B = 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="the other model's checkpoint stem")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device("cpu")
    models = {"shipped": load_checkpoint(None), "other": load_checkpoint(args.against)}
    best = {k: {"tcn": np.inf, "det": np.inf} for k in models}
    for k, (spec, weights, _) in models.items():
        layout = Detector(spec, weights, device="cpu", capacity=1, ring_dtype="float32").layout
        print(
            f"{k} ({spec.channels} channels): rings {layout.ring_bytes:,} bytes/stream "
            f"(float32; half in float16), stats "
            f"{layout.stats_size * 8} bytes, one reading changes "
            f"{sum(c * 4 for _, c in layout.ring_shapes):,} bytes of rows (float32); weights "
            f"{sum(v.numel() for v in weights.values()):,} floats"
        )
    slots = np.arange(B)
    for k in ["shipped", "other", "other", "shipped"] * 2:
        spec, weights, _ = models[k]
        pool = _pool(spec, weights, B, dev)
        z = torch.randn(B, spec.n_inputs)
        tcn = _time(partial(pool.step, slots, z), dev, 2.0, 10)
        det = Detector(spec, weights, device=dev, capacity=B)
        values = np.random.default_rng(1).normal(size=(B, spec.n_inputs))
        step = _time(partial(det.step, slots, values, np.full(B, 1.6e9)), dev, 2.0, 10)
        best[k]["tcn"], best[k]["det"] = min(best[k]["tcn"], tcn), min(best[k]["det"], step)
        print(f"  {k}: TCN step {B / tcn:,.0f} readings/s, Detector.step {B / step:,.0f}")
    for k, b in best.items():
        tcn, det = B / b["tcn"], B / b["det"]
        print(f"best {k}: TCN step {tcn:,.0f} readings/s, Detector.step {det:,.0f}")
    ratio = {part: best["other"][part] / best["shipped"][part] for part in ("tcn", "det")}
    print(f"other/shipped time: TCN step {ratio['tcn']:.2f}x, Detector.step {ratio['det']:.2f}x")


if __name__ == "__main__":
    main()
