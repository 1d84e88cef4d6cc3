"""Anomaly-free series of the validation corpora's kinds, written as CSV files for training.

``tcnad train --data DIR`` learns from any ``timestamp,value`` files. This script writes
clean series (no injected anomalies) of the kinds that ``pattern_corpus`` and
``burst_corpus`` are made of - ``smooth`` and ``edged`` daily cycles, Poisson ``counts`` with
a daily rate and mild bursts, ``hawkes`` self-exciting counts with heavy-tailed shocks - from
a seed that neither corpus uses, so a model can be trained on them next to the built-in
synthetic corpus and judged on those corpora (a weaker test than for a scoring change:
their kinds are then in the training distribution, only the draws and the anomalies are
new). From the repository root::

    python -m tests.benchmarks.training_mix --out /tmp/mix_data --per-kind 32
    tcnad train --checkpoint /tmp/mix --data /tmp/mix_data --synthetic 256 ...

Asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tcnad.detector.arrays import F64
from tests.benchmarks import burst_corpus, pattern_corpus

KINDS = ("smooth", "edged", "counts", "hawkes")
DAY = 86_400


def clean_series(kind: str, rng: np.random.Generator, length: int) -> tuple[int, F64]:
    """Readings per day and ``(length,)`` values of one anomaly-free series of ``kind``."""
    if kind in ("smooth", "edged"):
        period = int(rng.choice(pattern_corpus.PERIODS))
        scale = 10 ** rng.uniform(-1, 3)
        return period, rng.normal(0, 50) + scale * pattern_corpus.MAKERS[kind](rng, length, period)
    if kind == "counts":
        period = int(rng.choice(pattern_corpus.PERIODS))
        rate = np.maximum(pattern_corpus.count_rate(rng, length, period), 0.0)
        return period, rng.poisson(rate).astype(np.float64)
    if kind == "hawkes":
        period = int(rng.choice(burst_corpus.PERIODS))
        mu = burst_corpus.exogenous_rate(rng, length, period)
        news = burst_corpus.shocks(rng, length, mu)
        return period, burst_corpus.hawkes_counts(rng, mu + news, np.ones(length))
    raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")


def write(out: Path, per_kind: int, length: int, seed: int) -> int:
    """Write ``per_kind`` series of every kind to ``out``; returns how many were written."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2020-01-04T00:00:00", "s")  # a Saturday, as in both corpora
    written = 0
    for kind in KINDS:
        for i in range(per_kind):
            period, values = clean_series(kind, rng, length)
            times = t0 + np.arange(length) * np.timedelta64(DAY // period, "s")
            rows = zip(times, values, strict=True)
            lines = [f"{str(t).replace('T', ' ')},{float(v)!r}" for t, v in rows]
            text = "timestamp,value\n" + "\n".join(lines) + "\n"
            (out / f"{kind}_{i:03d}.csv").write_text(text)
            written += 1
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-kind", type=int, default=32)
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1001, help="not a seed of either corpus")
    args = ap.parse_args()
    n = write(args.out, args.per_kind, args.length, args.seed)
    print(f"wrote {n} series to {args.out}")


if __name__ == "__main__":
    main()
