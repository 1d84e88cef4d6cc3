"""Multi-horizon bands, measured offline: does a band forecast h readings ahead catch more?

A slow drift that no single step shows should leave a band forecast h readings earlier.
This trains the shipped model's spec, with the shipped model's training command, to
forecast the reading ``h`` steps ahead (same pinball loss, targets shifted by ``h``), then
scores every reading of each judging corpus also against the band that model forecast for
it ``h`` readings earlier: calibrated by its own adaptive conformal scale, its surprise
standardised by its own running statistics (the band part's rules, ``scoring.band`` and
``scoring.likelihood``), counted where the reading lies outside that band (``--anywhere``:
everywhere) and merged into the score before echo suppression, like the other parts. The
defaults and the variant are judged in the same run, as ``judge`` does::

    python -m tests.benchmarks.judge capture --cache /tmp/judge --nab     # forecasts, once
    python -m tests.benchmarks.multi_horizon train --horizon 16 --out /tmp/h16   # ~6 min
    python -m tests.benchmarks.multi_horizon judge --cache /tmp/judge --model /tmp/h16 \\
        --horizon 16 [--nab]

Offline only: a streaming version would keep each stream's last ``h`` forecast bands in its
state. Asserts nothing.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import torch

from tcnad.detector import scoring
from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.lab import train as training
from tcnad.detector.model import folded_forward
from tcnad.detector.normalize import denormalize, normalize_series
from tcnad.detector.scoring import band, likelihood
from tcnad.topology.cli.options import set_threads
from tests.benchmarks.judge import SEEDS, fmt, scored
from tests.benchmarks.level_novelty import Captured, echo
from tests.benchmarks.nab_run import replay_scores


def sampler_for(horizon: int) -> type[training.WindowSampler]:
    """``WindowSampler`` whose targets are the inputs ``horizon`` readings later."""

    class HorizonSampler(training.WindowSampler):
        def batch(self, rng: np.random.Generator, size: int, val: bool) -> tuple[torch.Tensor, ...]:
            w, n = self.cfg.window, self.cfg.spec.n_inputs
            x = np.zeros((size, w, n), np.float32)
            y = np.zeros((size, w, n), np.float32)
            mask = np.zeros((size, w), np.float32)
            for i in range(size):
                k = int(rng.choice(len(self.zs), p=self.weights))
                z, split = self.zs[k], int(self.split[k])
                lo, hi = (split, len(z) - horizon) if val else (0, split - horizon + 1)
                hi = max(hi, lo + 1)
                at_start = not val and rng.random() < self.cfg.start_fraction
                end = min(hi, w) if at_start else int(rng.integers(lo + 1, hi + 1))
                start = max(0, end - w)
                m = min(end - start, len(z) - horizon - start)
                x[i, :m] = z[start : start + m]
                y[i, :m] = z[start + horizon : start + horizon + m]
                pos = np.arange(m) + start
                first = (start == 0) | (np.arange(m) >= self.rf - 1)
                mask[i, :m] = first & (pos + horizon > lo)
            return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)

    return HorizonSampler


def train(horizon: int, out: str) -> None:
    spec = load_checkpoint(None)[0]  # the shipped model's spec and training command
    training.WindowSampler = sampler_for(horizon)  # type: ignore[misc]
    cfg = training.TrainConfig(
        out=out,
        spec=spec,
        synthetic_series=256,
        epochs=30,
        steps_per_epoch=40,
        batch_size=16,
        window=2048,
        patience=8,
        seed=0,
        threads=2,
        device="cpu",
        max_minutes=8.0,
    )
    meta = training.train(cfg)
    print(f"horizon {horizon}: best validation pinball {meta['best_val_pinball']:.4f}")


def forecasts(c: Captured, model: str, horizon: int) -> np.ndarray:
    """``(files, T, Q)``: at reading t, the band the model forecast for it at t - horizon."""
    spec, weights, _ = load_checkpoint(model)
    out = np.full((*c.values.shape, spec.n_quantiles), np.nan)
    for i in range(len(c.corpus)):
        n = int(c.lengths[i])
        z, stats = normalize_series(spec, c.values[i, :n].astype(np.float64)[None, :, None])
        with torch.no_grad():
            q = folded_forward(spec, weights, torch.from_numpy(z.astype(np.float32)))
        raw = denormalize(spec, stats[0], q[0].numpy().astype(np.float64))
        if n > horizon:
            out[i, horizon:n] = raw[: n - horizon, 0]
    return out


def horizon_part(c: Captured, pend: np.ndarray, warm: np.ndarray, anywhere: bool) -> np.ndarray:
    policy = scoring.AlertPolicy()
    files, steps = c.values.shape
    scale, stats, count = np.zeros((files, 1)), np.tile([1.0, 1.0], (files, 1)), np.zeros(files)
    part = np.zeros((files, steps))
    for t in range(steps):
        idx = np.flatnonzero(np.isfinite(pend[:, t]).all(axis=1) & (t < c.lengths))
        if not idx.size:
            continue
        valid, cal, _ = band._band(c.levels, pend[idx, t][:, None, :], scale[idx])
        obs = c.values[idx, t][:, None]
        miss = (obs < cal[:, :, 0]) | (obs > cal[:, :, -1])
        surprise = likelihood.surprise(
            policy.likelihood, band.tail_probability(cal, c.levels, obs)[:, 0]
        )
        score, stats[idx] = likelihood.likelihood_score(
            policy.likelihood, surprise, stats[idx], count[idx]
        )
        count[idx] += 1
        scale[idx] = band.calibrate(
            policy.band, scale[idx], valid, miss, count[idx], np.zeros(idx.size)
        )
        keep = warm[idx, t] & (anywhere | miss[:, 0])
        part[idx, t] = np.where(keep, score, 0.0)
    return part


def judge(cache: Path, model: str, horizon: int, anywhere: bool, nab: bool) -> None:
    names = ["realinject", "realheld"]
    names += [f"{kind}{s}" for kind in ("builtin", "pattern", "burst") for s in SEEDS[kind]]
    policy = scoring.AlertPolicy()
    deltas = {}
    for name in [*names, *(["nab"] if nab else [])]:
        with (cache / f"{name}.pkl").open("rb") as f:
            c: Captured = pickle.load(f)
        got = replay_scores(
            scoring.AlertPolicy(echo_horizon=0.0), c.levels, c.pending, c.values, c.lengths, c.times
        )
        raw, warm = got["score"], got["warm"]  # the score before echo suppression
        part = horizon_part(c, forecasts(c, model, horizon), warm, anywhere)
        base = scored(c, echo(raw, policy))
        variant = scored(c, echo(np.maximum(raw, part), policy))
        deltas[name] = variant[0][0] - base[0][0]
        print(f"{name:12s} {fmt(base)}  ->  {fmt(variant)}  {deltas[name]:+.2f}")
    rule = [v for k, v in deltas.items() if k != "nab"]
    print(f"mean {np.mean(rule):+.2f}, worst {min(rule):+.2f} over {len(rule)} corpora")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train")
    t.add_argument("--horizon", type=int, required=True)
    t.add_argument("--out", required=True)
    j = sub.add_parser("judge")
    j.add_argument("--cache", type=Path, required=True)
    j.add_argument("--model", required=True)
    j.add_argument("--horizon", type=int, required=True)
    j.add_argument("--anywhere", action="store_true")
    j.add_argument("--nab", action="store_true")
    args = ap.parse_args()
    set_threads(2)
    if args.what == "train":
        train(args.horizon, args.out)
    else:
        judge(args.cache, args.model, args.horizon, args.anywhere, args.nab)


if __name__ == "__main__":
    main()
