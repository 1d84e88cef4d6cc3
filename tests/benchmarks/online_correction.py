"""A per-stream online correction of the forecast quantiles, measured offline.

Each stream learns, by online gradient descent on the pinball loss, a correction of the
shipped model's quantiles in units of the model's own band width ``s`` (its 2.5-97.5 %
quantiles), so that one learning rate fits every stream's scale::

    q'_k = q_k + s * clip(b_k + w . h, -CLIP, CLIP),   then sorted (no crossing)

``b`` is one bias per quantile level; ``h`` is the TCN's last hidden features (the input of
the quantile head, ``channels`` of them) at the step that made the forecast, and ``w`` a
location shift shared by the levels. After each reading ``y`` (from reading ``LEARN_AFTER``
on), with ``u_k = tau_k - 1[y < q'_k]`` (minus the pinball loss's subgradient in ``s``
units): ``b_k += lr * u_k`` and, normalised by ``|h|^2`` so that the shift at this ``h``
moves by ``lr * mean(u)`` whatever the features' scale, ``w += lr * mean(u) * h / (h . h)``.
``u`` is taken against the sorted quantiles, the band as the scoring sees it (until
2026-12-07 against them before sorting, which differs only where levels crossed).

Settings, fixed before any result was seen:

- ``bias``: ``b`` only, lr 0.01 (``Q`` floats per stream, 9 for the shipped model);
- ``features``: ``b`` and ``w``, lr 0.01 (``Q + channels`` floats, 41);
- ``features-slow``: the same, lr 0.002.

The features are computed by the full causal pass (``folded_forward``, equal to the
incremental step to float32 rounding) over each file's normalised readings; the forecasts
corrected are those ``judge capture`` captured through ``Detector.step``. Every corrected
corpus is scored by the unchanged scoring and judged against the defaults by the real-corpus
rule (``judge.MIN_MEAN_GAIN``, ``judge.MAX_LOSS``); NAB (``--nab``) is printed after the
verdict and can only veto. ``--quality`` also prints the forecast's quality on each
corpus: the pinball loss over warm readings outside windows divided by the file's mean
absolute change (files weigh equally, as in ``forecast_quality``), the coverage of the raw
outer quantiles there, and the calibrated band's mean log width, miss rate and median's
error over warm readings (``band_width.band_figures``)::

    python -m tests.benchmarks.judge capture --cache /tmp/oc --nab     # forecasts, once
    python -m tests.benchmarks.online_correction --cache /tmp/oc --quality [--nab]
    python -m tests.benchmarks.judge capture --cache /tmp/ocf --fresh  # the fresh seeds
    python -m tests.benchmarks.online_correction --cache /tmp/ocf --fresh
    python -m tests.benchmarks.judge capture --cache /tmp/och --held-out  # realfresh
    python -m tests.benchmarks.online_correction --cache /tmp/och --held-out --quality \
        --setting features-slow

Offline only; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from tcnad.detector import model, scoring
from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.lab.nab import window_labels
from tcnad.detector.normalize import normalize_series
from tcnad.topology.cli.options import set_threads
from tests.benchmarks.band_width import band_figures
from tests.benchmarks.forecast_quality import pinball
from tests.benchmarks.judge import (
    FRESH,
    HELD_OUT,
    MAX_LOSS,
    MIN_MEAN_GAIN,
    SEEDS,
    THIRD,
    fmt,
    judge,
)
from tests.benchmarks.level_novelty import Captured
from tests.benchmarks.nab_run import replay_scores

LEARN_AFTER = 32  # readings before a stream's correction learns (the band's calibrate_after)
CLIP = 1.0  # largest correction, in model band widths
SETTINGS = {"bias": (0.01, False), "features": (0.01, True), "features-slow": (0.002, True)}


def features(c: Captured) -> np.ndarray:
    """``(files, T, C)`` float32: at reading t, the TCN's last hidden features at t - 1 (the
    step that forecast reading t); zeros at t = 0."""
    spec, weights, _ = load_checkpoint(None)
    eye = dict(weights)
    eye["head.weight"] = torch.eye(spec.channels)
    eye["head.bias"] = torch.zeros(spec.channels)
    out = np.zeros((*c.values.shape, spec.channels), np.float32)
    # the identity head and no quantile mapping: folded_forward returns the head's input
    with mock.patch.object(model, "_head", lambda params, _spec: params), torch.no_grad():
        for i in range(len(c.corpus)):
            n = int(c.lengths[i])
            z, _ = normalize_series(spec, c.values[i, :n].astype(np.float64)[None, :, None])
            h = model.folded_forward(spec, eye, torch.from_numpy(z.astype(np.float32)))
            out[i, 1:n] = h[0, :, : n - 1].T.numpy()
    return out


def corrected(c: Captured, feats: np.ndarray, lr: float, use_features: bool) -> np.ndarray:
    """The captured forecasts ``(files, T, Q)`` with each stream's online correction."""
    levels = np.asarray(c.levels, dtype=np.float64)
    lo, hi = list(levels).index(0.025), list(levels).index(0.975)
    files, steps, q = c.pending.shape
    bias = np.zeros((files, q))
    shift = np.zeros((files, feats.shape[2]))
    seen = np.zeros(files)
    out = c.pending.copy()
    for t in range(steps):
        idx = np.flatnonzero((t < c.lengths) & np.isfinite(c.pending[:, t]).all(axis=1))
        if not idx.size:
            continue
        p, h = c.pending[idx, t], feats[idx, t].astype(np.float64)
        width = np.maximum(p[:, hi] - p[:, lo], 0.0)[:, None]
        loc = (shift[idx] * h).sum(axis=1, keepdims=True) if use_features else 0.0
        cor = np.clip(bias[idx] + loc, -CLIP, CLIP)
        qs = np.sort(p + width * cor, axis=1)
        out[idx, t] = qs
        y = c.values[idx, t][:, None]
        u = np.where(seen[idx, None] >= LEARN_AFTER, levels - (y < qs), 0.0)
        bias[idx] += lr * u
        if use_features:
            norm = np.maximum((h * h).sum(axis=1, keepdims=True), 1e-12)
            shift[idx] += lr * u.mean(axis=1, keepdims=True) * h / norm
        seen[idx] += 1
    return out


def forecast_quality(c: Captured, pending: np.ndarray, warm: np.ndarray) -> tuple[float, ...]:
    """Mean pinball loss per file scale and coverage of the outer quantiles, over ``warm``
    readings outside windows; and their count."""
    losses, inside, n = [], 0, 0
    for i, item in enumerate(c.corpus):
        m = int(c.lengths[i])
        y, p = c.values[i, :m], pending[i, :m]
        keep = warm[i, :m] & (window_labels(m, item.windows) == 0) & np.isfinite(p).all(axis=1)
        diffs = np.abs(np.diff(y))
        scale = float(diffs.mean()) if diffs.size and diffs.mean() > 0 else 1.0
        if keep.any():
            losses.append(float(pinball(c.levels, p[keep], y[keep]).mean()) / scale)
            inside += int(((y[keep] >= p[keep, 0]) & (y[keep] <= p[keep, -1])).sum())
            n += int(keep.sum())
    return float(np.mean(losses)), inside / max(n, 1), n


def run(
    cache: Path,
    nab: bool,
    quality: bool,
    fresh: bool = False,
    third: bool = False,
    held_out: bool = False,
    only: str | None = None,
) -> None:
    names = [] if fresh or third or held_out else ["realinject", "realheld"]
    seeds = THIRD if third else FRESH if fresh else SEEDS
    if held_out:
        names = [HELD_OUT]
    else:
        names += [f"{kind}{s}" for kind in ("builtin", "pattern", "burst") for s in seeds[kind]]
    policy = scoring.AlertPolicy()
    settings = {k: v for k, v in SETTINGS.items() if only in (None, k)}
    deltas: dict[str, dict[str, float]] = {k: {} for k in settings}
    for name in [*names, *(["nab"] if nab else [])]:
        with (cache / f"{name}.pkl").open("rb") as f:
            c: Captured = pickle.load(f)
        feats = features(c)
        base = judge(c, policy)
        print(f"{name:12s} defaults       {fmt(base)}", flush=True)
        if quality:
            warm = replay_scores(policy, c.levels, c.pending, c.values, c.lengths, c.times)
            a, w0 = forecast_quality(c, c.pending, warm["warm"]), band_figures(c, policy)
        for tag, (lr, use) in settings.items():
            variant = dataclasses.replace(c, pending=corrected(c, feats, lr, use))
            got = judge(variant, policy)
            deltas[tag][name] = got[0][0] - base[0][0]
            print(f"{'':12s} {tag:14s} {fmt(got)}  {deltas[tag][name]:+.2f}", flush=True)
            if quality:
                b = forecast_quality(c, variant.pending, warm["warm"])
                w1 = band_figures(variant, policy)
                print(
                    f"{'':27s} pinball {a[0]:.4f} -> {b[0]:.4f}, raw coverage {a[1]:.4f} -> "
                    f"{b[1]:.4f} ({a[2]} readings); calibrated band: log width "
                    f"{w0[0]:.4f} -> {w1[0]:.4f}, outside {w0[1]:.4f} -> {w1[1]:.4f}, "
                    f"median's MAE {w0[2]:.4g} -> {w1[2]:.4g}",
                    flush=True,
                )
    for tag, per in deltas.items():
        rule = [v for k, v in per.items() if k != "nab"]
        mean, worst = float(np.mean(rule)), min(rule)
        ok = mean >= MIN_MEAN_GAIN and worst >= -MAX_LOSS
        veto = f"; NAB {per['nab']:+.2f}" if "nab" in per else ""
        print(
            f"{tag:14s} mean {mean:+.2f}, worst {worst:+.2f} over {len(rule)} corpora: "
            f"{'passes' if ok else 'fails'} the rule{veto}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="judge capture's pickles")
    ap.add_argument("--nab", action="store_true", help="also NAB, after the verdict")
    ap.add_argument("--quality", action="store_true", help="also the forecast's quality")
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="the fresh seeds' synthetic corpora instead (judge capture --fresh's pickles)",
    )
    ap.add_argument("--third", action="store_true", help="the third seed set's (judge --third)")
    ap.add_argument(
        "--held-out", action="store_true", help=f"the {HELD_OUT} corpus alone (judge --held-out)"
    )
    ap.add_argument("--setting", choices=sorted(SETTINGS), help="this setting only")
    args = ap.parse_args()
    set_threads(1)
    run(args.cache, args.nab, args.quality, args.fresh, args.third, args.held_out, args.setting)


if __name__ == "__main__":
    main()
