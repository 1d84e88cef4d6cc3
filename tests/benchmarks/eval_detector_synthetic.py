"""Detection quality of a checkpoint on synthetic series with injected anomalies.

Run: python -m tests.benchmarks.eval_detector_synthetic [--model PATH] [--series 40]
Prints the band-miss rate on normal readings and alert hits per anomaly kind; asserts
nothing. Normal = warm and outside every anomaly's window plus a settling margin.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tcnad.detector.engine import Detector
from tcnad.detector.lab.synthetic import KINDS, Anomaly, generate_corpus, inject_anomalies


def _normal_mask(labels: list[list[Anomaly]], shape: tuple[int, int]) -> np.ndarray:
    normal = np.ones(shape, dtype=bool)
    for s, anomalies in enumerate(labels):
        for a in anomalies:
            settle = 400 if a.kind == "level_shift" else 150
            normal[s, a.start : a.end + settle] = False
    return normal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    ap.add_argument("--series", type=int, default=40)
    ap.add_argument("--length", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args()
    torch.set_num_threads(1)
    det = Detector.from_checkpoint(args.model, device="cpu", capacity=args.series)
    rng = np.random.default_rng(args.seed + 1)
    data, labels = [], []
    for x in generate_corpus(args.series, args.length, seed=args.seed):
        y, anomalies = inject_anomalies(x, rng, 4, margin=300)
        data.append(y)
        labels.append(anomalies)
    xs = np.stack(data)
    slots = np.arange(args.series)
    shape = (args.series, args.length)
    alert, outside, warm = np.zeros(shape, bool), np.zeros(shape, bool), np.zeros(shape, bool)
    for t in range(args.length):
        r = det.step(slots, xs[:, t])
        alert[:, t], warm[:, t] = r.alert, r.warm
        outside[:, t] = ((xs[:, t] < r.lower) | (xs[:, t] > r.upper)).any(axis=1)
    normal = _normal_mask(labels, shape) & warm
    print(f"model {det.model_id}, {args.series} series x {args.length}, seed {args.seed}")
    print(f"band-miss rate on normal warm readings: {outside[normal].mean():.4f}")
    for i, kind in enumerate(KINDS):
        rows = np.arange(args.series) % len(KINDS) == i
        per_1k = 1000 * (alert & normal)[rows].sum() / normal[rows].sum()
        print(
            f"  {kind:12s} miss {outside[rows][normal[rows]].mean():.4f}  "
            f"alerts on normal readings per 1000: {per_1k:.2f}"
        )
    hits: dict[str, list[bool]] = {}
    for s, anomalies in enumerate(labels):
        for a in anomalies:
            hits.setdefault(a.kind, []).append(bool(alert[s, a.start : a.end + 10].any()))
    for kind, h in sorted(hits.items()):
        print(f"  detected {kind:15s} {sum(h)}/{len(h)}")


if __name__ == "__main__":
    main()
