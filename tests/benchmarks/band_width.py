"""How wide and how well placed the calibrated band is: the defaults against a change.

For each captured corpus (``judge capture``), replays the scoring with the defaults and with
``--set`` settings, and prints over the warm readings: the mean log width of the calibrated
band (and the ratio of widths it implies), the fraction of readings outside it, and the mean
absolute error of its median, in the readings' units::

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
from tests.benchmarks.nab_run import _policy


def band_figures(c: Captured, policy: scoring.AlertPolicy) -> tuple[float, float, float]:
    """Mean log width, miss rate and median's mean absolute error over warm readings."""
    files, steps = c.values.shape
    state = scoring.new_state(1, files)
    times = c.times
    order = np.argsort(-c.lengths, kind="stable")
    log_width, miss, error, n = 0.0, 0, 0.0, 0
    for t in range(steps):
        idx = order[: int((c.lengths > t).sum())]
        res, state[idx] = scoring.score_batch(
            policy, c.levels, c.pending[idx, t][:, None, :], c.values[idx, t][:, None],
            state[idx], times[idx, t],
        )  # fmt: skip
        ok = res.warm
        if not ok.any():
            continue
        v, lo, hi = c.values[idx, t][ok], res.lower[ok, 0], res.upper[ok, 0]
        log_width += float(np.log(np.maximum(hi - lo, 1e-9)).sum())
        miss += int(((v < lo) | (v > hi)).sum())
        error += float(np.abs(v - res.median[ok, 0]).sum())
        n += int(ok.sum())
    return log_width / n, miss / n, error / n


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


if __name__ == "__main__":
    main()
