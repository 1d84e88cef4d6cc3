"""How wide and how well placed the calibrated band is: the defaults against a change.

For each captured corpus (``judge capture``), replays the scoring with the defaults and with
``--set`` settings, and prints over the warm readings: the mean log width of the calibrated
band (and the ratio of widths it implies), the fraction of readings outside it, and the mean
absolute error of its median, in the readings' units; and, for the defaults, how lopsided
the misses are (above against below the band: per file, the median of ``(above + 1) /
(below + 1)``) and how the model's errors persist (per file after 300 readings, the median
lag-1 autocorrelation of the error from the median in units of the 2.5-97.5% band)::

    python -m tests.benchmarks.judge capture --cache /tmp/judge
    python -m tests.benchmarks.band_width --cache /tmp/judge --set persist_weight=0.01 \\
        realinject realheld nab

(``persist_weight`` exists with ``docs/decisions/patches/persist-correction.patch``
applied.) Asserts nothing.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

from tcnad.detector import scoring
from tcnad.topology.cli.options import set_threads
from tests.benchmarks.level_novelty import Captured
from tests.benchmarks.nab_run import _policy, replay_steps


def band_figures(c: Captured, policy: scoring.AlertPolicy) -> tuple[float, float, float]:
    """Mean log width, miss rate and median's mean absolute error over warm readings."""
    log_width, miss, error, n = 0.0, 0, 0.0, 0
    for t, idx, res in replay_steps(policy, c.levels, c.pending, c.values, c.lengths, c.times):
        ok = res.warm
        if not ok.any():
            continue
        v, lo, hi = c.values[idx, t][ok], res.lower[ok, 0], res.upper[ok, 0]
        log_width += float(np.log(np.maximum(hi - lo, 1e-9)).sum())
        miss += int(((v < lo) | (v > hi)).sum())
        error += float(np.abs(v - res.median[ok, 0]).sum())
        n += int(ok.sum())
    return log_width / n, miss / n, error / n


def lopsided_and_persistent(c: Captured) -> tuple[float, float]:
    """Median over files of (misses above + 1) / (misses below + 1) of the default band, and
    of the lag-1 autocorrelation of the model's error in band widths."""
    files = c.values.shape[0]
    above, below = np.zeros(files), np.zeros(files)
    default = scoring.AlertPolicy()
    for t, idx, res in replay_steps(default, c.levels, c.pending, c.values, c.lengths, c.times):
        v, ok = c.values[idx, t], res.warm
        above[idx] += ok & (v > res.upper[:, 0])
        below[idx] += ok & (v < res.lower[:, 0])
    mid = list(c.levels).index(0.5)
    lag1 = []
    for i in range(files):
        n = int(c.lengths[i])
        p, y = c.pending[i, 300:n], c.values[i, 300:n]
        e = np.clip((y - p[:, mid]) / np.maximum(p[:, -2] - p[:, 1], 1e-9), -5, 5)
        if e.size > 2 and e.std() > 0:
            lag1.append(np.corrcoef(e[:-1], e[1:])[0, 1])
    return float(np.median((above + 1) / (below + 1))), float(np.nanmedian(lag1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--set", action="append", default=[], help="AlertPolicy field=value")
    ap.add_argument("corpora", nargs="+")
    args = ap.parse_args()
    set_threads(1)
    base, variant = scoring.AlertPolicy(), _policy(args.set)
    print(f"variant: {' '.join(args.set) or '(defaults)'}")
    for name in args.corpora:
        with (args.cache / f"{name}.pkl").open("rb") as f:
            c: Captured = pickle.load(f)
        a, b = band_figures(c, base), band_figures(c, variant)
        print(
            f"{name:12s} mean log width {a[0]:.4f} -> {b[0]:.4f} "
            f"(widths x{np.exp(b[0] - a[0]):.3f}); "
            f"outside {a[1]:.4f} -> {b[1]:.4f}; median's MAE {a[2]:.4g} -> {b[2]:.4g}",
            flush=True,
        )
        ratio, lag1 = lopsided_and_persistent(c)
        print(f"{'':12s} defaults: misses above / below {ratio:.2f}; error lag-1 {lag1:.3f}")


if __name__ == "__main__":
    main()
