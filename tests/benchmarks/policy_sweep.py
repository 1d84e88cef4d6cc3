"""Sweep ``AlertPolicy`` scoring parameters on synthetic corpora, one at a time.

NAB's rules allow learning from a synthetic corpus, not from NAB's labels. This script
scores the shipped model's forecasts (or ``--model``'s) on synthetic corpora with injected
anomalies and NAB-style windows (``level_novelty.synthetic``: the five built-in kinds, seeds
that were not used for training; ``pattern_corpus``: daily cycles with pattern anomalies and bursty
count streams; ``burst_corpus``: self-exciting event counts with heavy-tailed bursts),
varying one scoring parameter at a time around the defaults, and prints the
NAB-style scores (standard / reward low FP / reward low FN) per corpus. ``--nab-cache``
adds the same rows on NAB, for reporting only: choose on the synthetic rows.

From the repository root::

    python -m tests.benchmarks.policy_sweep       # built-in 123, 321; pattern 7, 8; burst 5, 6
    python -m tests.benchmarks.nab_run capture --cache /tmp/nab_forecasts.npz
    python -m tests.benchmarks.policy_sweep --nab-cache /tmp/nab_forecasts.npz

Asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from tcnad.detector import scoring
from tcnad.topology.cli.options import set_threads
from tests.benchmarks import burst_corpus, pattern_corpus
from tests.benchmarks.judge import judge
from tests.benchmarks.level_novelty import Captured, capture, from_nab_cache, synthetic

GRID: dict[str, tuple[float, ...]] = {
    "range_tolerance": (0.02, 0.03, 0.05, 0.10),
    "z_half": (4.0, 8.0, 16.0),
    "history_weight": (1e-4, 2e-4, 5e-4, 1e-3, 3e-3, 1e-2),
    "echo_horizon": (100.0, 300.0, 1000.0),
    "surprise_cap": (20.0, 25.0, 30.0, 40.0),
    "season_half": (0.0, 2.0, 3.0, 5.0),
    "season_gate": (0.2, 0.3, 0.5, 0.6, 0.7),
    "season_rate": (0.05, 0.1, 0.2),
    "count_scale": (0.0, 1.0),
    "novelty_once": (0.0, 1.0),
    "level_novelty": (0.0, 1.0),
    "level_gate": (0.0, 0.25, 0.5, 0.75),
    "novelty_score": (0.6, 0.7, 0.8, 0.95),
}


def scores(c: Captured, policy: scoring.AlertPolicy) -> tuple[list[float], int, int, int]:
    got, hit, n, fp, _ = judge(c, policy)
    return got, hit, n, fp


def sweep(name: str, c: Captured, grid: dict[str, tuple[float, ...]]) -> None:
    default = scoring.AlertPolicy()
    print(f"{name} (standard / reward low FP / reward low FN; windows hit, outside):")
    t0 = time.perf_counter()
    base, hit, n, fp = scores(c, default)
    print(f"  {'defaults':28s} {' / '.join(f'{x:6.2f}' for x in base)}   {hit}/{n}, {fp}")
    for field, values in grid.items():
        for v in values:
            if v == getattr(default, field):
                continue
            got, hit, n, fp = scores(c, dataclasses.replace(default, **{field: v}))
            delta = got[0] - base[0]
            print(
                f"  {field + '=' + format(v, 'g'):28s} {' / '.join(f'{x:6.2f}' for x in got)}"
                f"   {hit}/{n}, {fp}   standard {delta:+.2f}"
            )
    print(f"  ({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[123, 321])
    ap.add_argument(
        "--pattern-seeds", type=int, nargs="*", default=[7, 8], help="pattern_corpus seeds"
    )
    ap.add_argument("--burst-seeds", type=int, nargs="*", default=[5, 6], help="burst_corpus seeds")
    ap.add_argument("--series", type=int, default=60)
    ap.add_argument("--length", type=int, default=4000)
    ap.add_argument("--nab-cache", default=None, help="forecasts from nab_run capture")
    ap.add_argument(
        "--only", nargs="*", default=None, help="parameters to sweep (default: all of GRID)"
    )
    ap.add_argument(
        "--model", default=None, help="checkpoint (default: $TCNAD_MODEL, else shipped)"
    )
    args = ap.parse_args()
    if args.model is not None:
        os.environ["TCNAD_MODEL"] = args.model
    set_threads(1)
    grid = {k: v for k, v in GRID.items() if args.only is None or k in args.only}
    for seed in args.seeds:
        c = synthetic(seed, args.series, args.length)
        sweep(f"synthetic corpus (seed {seed}, {args.series} x {args.length})", c, grid)
    for seed in args.pattern_seeds:
        c = capture(pattern_corpus.corpus(seed, args.series, args.length))
        sweep(f"pattern corpus (seed {seed}, {args.series} x {args.length})", c, grid)
    for seed in args.burst_seeds:
        c = capture(burst_corpus.corpus(seed, args.series, args.length))
        sweep(f"burst corpus (seed {seed}, {args.series} x {args.length})", c, grid)
    if args.nab_cache:
        sweep("NAB (for reporting only)", from_nab_cache(args.nab_cache), grid)


if __name__ == "__main__":
    main()
