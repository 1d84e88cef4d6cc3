"""A scoring variant that is not shipped: range novelty of the recent average level.

The shipped score gives a reading at least ``novelty_score`` when its value lies beyond the
range seen so far by more than ``range_tolerance`` of that range. This script adds the same
test applied to a moving average of the last ``k`` values (simple or exponential), and
prints NAB-style scores of both on two corpora, from forecasts captured once:

- NAB (``python -m tests.benchmarks.nab_run capture --cache F``), scored with NAB's labels;
- a synthetic corpus with injected anomalies and NAB-style windows (the built-in
  generators, seed 123 by default: not a training seed), captured here.

From the repository root::

    python -m tests.benchmarks.nab_run capture --cache /tmp/nab_forecasts.npz
    python -m tests.benchmarks.level_novelty --nab-cache /tmp/nab_forecasts.npz

Everything downstream of the forecasts is replayed exactly as ``score_batch`` runs it (with
echo suppression applied after the variant's novelty, as in ``score_batch``). Asserts
nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from tcnad.detector import scoring
from tcnad.detector.lab.nab import LabelledSeries, evaluate, load_corpus
from tcnad.detector.lab.offline import score_series
from tcnad.detector.lab.series import Series
from tcnad.detector.lab.synthetic import generate_corpus, inject_anomalies
from tcnad.detector.scoring.likelihood import _echo
from tcnad.detector.state import DEFAULT_RING_DTYPE
from tcnad.topology.cli.options import load_engine, set_threads
from tests.benchmarks.nab_run import Capturing, padded_times, replay_scores


@dataclasses.dataclass
class Captured:
    corpus: list[LabelledSeries]
    lengths: np.ndarray
    values: np.ndarray  # (files, horizon), zero-padded
    pending: np.ndarray  # (files, horizon, quantiles)
    levels: np.ndarray

    @property
    def times(self) -> np.ndarray:
        """``(files, horizon)`` epoch seconds of every reading (NaN past a file's end)."""
        return padded_times([c.series for c in self.corpus], self.values.shape[1])


def from_nab_cache(path: str) -> Captured:
    d = np.load(path)
    corpus = {c.name: c for c in load_corpus()}
    return Captured(
        [corpus[k] for k in d["names"].tolist()],
        d["lengths"],
        d["values"],
        d["pending"],
        d["levels"],
    )


def synthetic(seed: int, n_series: int, length: int) -> Captured:
    """Series of the five built-in kinds with 1-3 injected anomalies each, after NAB's
    probationary 15%; windows as NAB sizes them (10% of the file over its anomalies),
    centred on each anomaly's start."""
    rng = np.random.default_rng(seed + 1)
    t0 = np.datetime64("2020-01-01T00:00:00", "us")
    times = t0 + np.arange(length) * np.timedelta64(300, "s")
    corpus = []
    for i, x in enumerate(generate_corpus(n_series, length, seed=seed)):
        y, anomalies = inject_anomalies(x, rng, int(rng.integers(1, 4)), margin=700)
        half = int(0.1 * length / max(len(anomalies), 1)) // 2
        windows = tuple(
            (max(0, a.start - half), min(length - 1, a.start + half)) for a in anomalies
        )
        series = Series(name=f"synthetic/{i:03d}.csv", timestamps=times, values=y[:, 0])
        corpus.append(LabelledSeries(series.name, series, windows))
    return capture(corpus)


def capture(corpus: list[LabelledSeries]) -> Captured:
    """The forecasts of the model ``$TCNAD_MODEL`` (default: the shipped model) for every
    reading of ``corpus``, its rings held as ``$TCNAD_RING_DTYPE`` (default:
    ``DEFAULT_RING_DTYPE``)."""
    lengths = np.array([len(c.series) for c in corpus])
    horizon = int(lengths.max())
    values = np.stack([np.pad(c.series.values, (0, horizon - len(c.series))) for c in corpus])
    ring_dtype = os.environ.get("TCNAD_RING_DTYPE", DEFAULT_RING_DTYPE)
    det = load_engine(os.environ.get("TCNAD_MODEL", ""), "cpu", len(corpus), ring_dtype)
    levels = np.asarray(det.spec.quantiles)
    cap = Capturing(det, horizon, len(corpus), levels.size)
    score_series(cap, [c.series for c in corpus], capacity=len(corpus))
    return Captured(corpus, lengths, values, cap.pending, levels)


def replay(c: Captured) -> tuple[np.ndarray, np.ndarray]:
    """Scores before echo suppression and the warm mask, ``(files, horizon)`` each."""
    policy = scoring.AlertPolicy(echo_horizon=0.0)
    got = replay_scores(policy, c.levels, c.pending, c.values, c.lengths, c.times)
    return got["score"], got["warm"]


def echo(raw: np.ndarray, policy: scoring.AlertPolicy) -> np.ndarray:
    """``score_batch``'s echo suppression (``scoring.likelihood._echo``) over whole series."""
    out, peak = np.zeros_like(raw), np.zeros(raw.shape[0])
    for t in range(raw.shape[1]):
        out[:, t], peak = _echo(policy.likelihood, raw[:, t], peak)
    return out


def moving_average(c: Captured, k: int, kind: str) -> np.ndarray:
    out = np.full(c.values.shape, np.nan)
    for i, n in enumerate(c.lengths):
        v = c.values[i, :n]
        if kind == "sma" and n >= k:
            out[i, k - 1 : n] = np.lib.stride_tricks.sliding_window_view(v, k).mean(axis=1)
        elif kind == "ema":
            a, e = 2.0 / (k + 1.0), v[0]
            for t in range(n):
                e += a * (v[t] - e)
                out[i, t] = e
    return out


def novel(feature: np.ndarray, warm: np.ndarray, lengths: np.ndarray, tol: float) -> np.ndarray:
    """Warm readings whose feature lies beyond its range so far by more than ``tol``."""
    out = np.zeros(feature.shape, dtype=bool)
    for i, n in enumerate(lengths):
        x = feature[i, :n]
        low = np.fmin.accumulate(np.r_[np.nan, x[:-1]])
        high = np.fmax.accumulate(np.r_[np.nan, x[:-1]])
        span = high - low
        with np.errstate(invalid="ignore"):
            beyond = (x > high + tol * span) | (x < low - tol * span)
        out[i, :n] = beyond & (span > 0) & warm[i, :n]
    return out


def line(tag: str, c: Captured, score: np.ndarray) -> str:
    results = evaluate(c.corpus, {s.name: score[i, : c.lengths[i]] for i, s in enumerate(c.corpus)})
    std = results[0]
    scores = " / ".join(f"{r.normalised:6.2f}" for r in results)
    return (
        f"  {tag:24s} {scores}   windows {std.windows_hit}/{std.n_windows}, "
        f"{std.false_positives} detections outside (standard)"
    )


def run(name: str, c: Captured, windows: Sequence[int]) -> None:
    policy = scoring.AlertPolicy()
    raw, warm = replay(c)
    print(f"{name} (standard / reward low FP / reward low FN):")
    print(line("shipped score", c, echo(raw, policy)))
    for kind in ("sma", "ema"):
        for k in windows:
            level = novel(moving_average(c, k, kind), warm, c.lengths, policy.range_tolerance)
            score = echo(np.maximum(raw, level * policy.novelty_score), policy)
            print(line(f"+ level novelty {kind} {k}", c, score))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nab-cache", default=None, help="forecasts from nab_run capture")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--series", type=int, default=60)
    ap.add_argument("--length", type=int, default=4000)
    ap.add_argument("--windows", type=int, nargs="*", default=[6, 12, 24, 48, 96])
    args = ap.parse_args()
    set_threads(1)
    run(
        f"synthetic corpus (seed {args.seed}, {args.series} x {args.length})",
        synthetic(args.seed, args.series, args.length),
        args.windows,
    )
    if args.nab_cache:
        run("NAB", from_nab_cache(args.nab_cache), args.windows)


if __name__ == "__main__":
    main()
