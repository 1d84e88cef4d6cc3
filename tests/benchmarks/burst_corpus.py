"""A synthetic validation corpus of bursty count streams (self-exciting event counts).

Mention counts, request counts and other event counts are bursty: a news item or an outage
sets off a cascade of events, and each event sets off more. The count streams of
``pattern_corpus`` have mild, exponentially decaying bursts; real ones are heavier. This
corpus follows the published models of such counts:

- a Hawkes (self-exciting) process observed in time bins, whose exogenous rate varies
  with the time of day and the day of the week (Fujita et al. 2018, "Identifying
  exogenous and endogenous activity in social media", Phys. Rev. E 98, 052304);
- a power-law memory kernel ``(k + c) ** -(1 + theta)``, theta 0.2-0.6, and a branching
  ratio (events triggered per event) of 0.3-0.85 (Crane and Sornette 2008, "Robust
  dynamic classes revealed by measuring the response function of a social system", PNAS
  105, 15649; Zhao et al. 2015, "SEISMIC", KDD: theta about 0.24 for retweets);
- exogenous shocks (news) at random times with Pareto-distributed sizes (tail index
  1.2-2), which set off the normal bursts (Crane and Sornette's exogenous bursts).

Each series has 4,000 readings, one cycle of the day every ``P`` readings (``P`` 96, 144
or 288: 15-, 10- or 5-minute bins), timestamps to match, starting on a Saturday; it is
built from generators and rules alone (no benchmark's labels or data).

Anomalies (1-3 per series, after the probationary 15%; NAB-style windows of 10% of a file
over its anomalies, centred on each start), changes of the exogenous rate that a normal
shock does not make, the cascades running on top of them as usual:

- ``rate``: held at 2.5-4 times its level for 20-60 readings (a campaign, a bot, a
  retry storm), without a shock's decay;
- ``dropout``: the observed counts fall to a tenth for 20-60 readings (collection lost);
- ``shift``: 2-3 times its level, or a third to a half of it, from then on (a lasting
  change of regime).

Used by ``policy_sweep``. From the repository root::

    python -m tests.benchmarks.burst_corpus --seed 5      # its make-up
    python -m tests.benchmarks.burst_corpus --burstiness  # against other count streams

Asserts nothing.
"""

from __future__ import annotations

import numpy as np

from tcnad.detector.arrays import F64
from tcnad.detector.lab.nab import LabelledSeries
from tests.benchmarks import pattern_corpus

Gen = np.random.Generator

PERIODS = (96, 144, 288)
ANOMALIES = ("rate", "dropout", "shift")
KERNEL_BINS = 288  # the memory kernel is cut off after this many bins


def exogenous_rate(rng: Gen, t: int, period: int) -> F64:
    """Base rate (1-100 events per bin) x a daily profile (one or two harmonics) x quieter
    weekends (the series start on a Saturday)."""
    idx = np.arange(t, dtype=np.float64)
    base = 10 ** rng.uniform(0.0, 2.0)
    shape = rng.uniform(0.3, 0.8) * np.sin(2 * np.pi * idx / period + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:
        shape += rng.uniform(0.1, 0.3) * np.sin(4 * np.pi * idx / period + rng.uniform(0, 6.3))
    weekly = pattern_corpus.weekly(rng, t, period, 0.5, 0.9)
    out: F64 = base * np.maximum(1.0 + shape, 0.05) * weekly
    return out


def shocks(rng: Gen, t: int, mu: F64) -> F64:
    """Exogenous events of news shocks per bin: at rate 1 / (200-1500) bins, each of
    ``mean rate x (2-50) x Pareto`` events (tail index 1.2-2), spread over 1-3 bins."""
    out = np.zeros(t)
    every, alpha = rng.uniform(200, 1500), rng.uniform(1.2, 2.0)
    scale = 10 ** rng.uniform(0.3, 1.7)  # 2-50: from a ripple to orders of magnitude
    for s in np.flatnonzero(rng.random(t) < 1.0 / every):
        size = mu.mean() * scale * (rng.pareto(alpha) + 1.0)
        spread = int(rng.integers(1, 4))
        out[s : s + spread] += size / spread
    return out


def hawkes_counts(rng: Gen, exo: F64, kept: F64) -> F64:
    """Counts per bin of a discrete-time Hawkes process with exogenous rate ``exo``: the rate
    of bin ``t`` is ``exo[t] + n * sum_k N[t - k] g(k)``, ``g`` a power-law kernel summing
    to 1, ``n`` the branching ratio; ``N[t]`` is Poisson. ``kept`` is the fraction of each
    bin's events observed (1: everything; a dropout thins what is seen, not the process)."""
    n = rng.uniform(0.3, 0.85)
    theta, c = rng.uniform(0.2, 0.6), rng.uniform(0.5, 3.0)
    k = np.arange(1, KERNEL_BINS + 1, dtype=np.float64)
    g = (k + c) ** -(1.0 + theta)
    g *= n / g.sum()
    t = exo.size
    counts = np.zeros(t)
    for i in range(t):
        lo = max(0, i - KERNEL_BINS)
        past = counts[lo:i][::-1]
        rate = exo[i] + float(past @ g[: past.size])
        counts[i] = rng.poisson(rate)
    observed: F64 = rng.binomial(counts.astype(np.int64), np.clip(kept, 0.0, 1.0))
    return observed.astype(np.float64)


def series_with_anomalies(
    rng: Gen, length: int, margin: int
) -> tuple[int, F64, list[tuple[str, int]]]:
    """Period, counts ``(length,)`` and anomalies (kind, start) of one series."""
    period = int(rng.choice(PERIODS))
    mu = exogenous_rate(rng, length, period)
    news = shocks(rng, length, mu)
    level, keep = np.ones(length), np.ones(length)
    found = []
    for s in pattern_corpus.spaced_starts(rng, length, int(rng.integers(1, 4)), margin, 300):
        kind = str(rng.choice(ANOMALIES))
        end = s + int(rng.integers(20, 60))
        if kind == "rate":
            level[s:end] *= rng.uniform(2.5, 4.0)
        elif kind == "dropout":
            keep[s:end] = 0.1
        else:
            level[s:] *= rng.uniform(2.0, 3.0) if rng.random() < 0.5 else rng.uniform(1 / 3, 0.5)
        found.append((kind, s))
    return period, hawkes_counts(rng, mu * level + news, keep), found


def corpus(seed: int, n_series: int = 60, length: int = 4000) -> list[LabelledSeries]:
    """``n_series`` labelled series; same seed, same corpus."""
    rng = np.random.default_rng(seed)
    margin = int(0.175 * length)
    out = []
    for i in range(n_series):
        period, y, found = series_with_anomalies(rng, length, margin)
        out.append(
            pattern_corpus.labelled(
                f"burst/{i:03d}-{'+'.join(a for a, _ in found)}.csv", y, period, found
            )
        )
    return out


def burstiness(values: F64) -> tuple[float, float, float]:
    """Peak / median, 99.9th percentile / median, variance / mean of one count stream."""
    med = max(float(np.median(values)), 1.0)
    peak, p999 = float(values.max()) / med, float(np.quantile(values, 0.999)) / med
    return peak, p999, float(values.var() / max(values.mean(), 1e-9))


def compare_burstiness(seed: int) -> None:
    """Medians over streams of ``burstiness``: this corpus, the count streams of
    ``pattern_corpus`` and NAB's Twitter mention counts (their readings only)."""
    from tcnad.detector.lab.nab import load_corpus

    groups = {
        f"burst corpus, seed {seed}": [c.series.values for c in corpus(seed)],
        "pattern corpus count streams, seed 7": [
            c.series.values for c in pattern_corpus.corpus(7) if "-counts-" in c.name
        ],
        "NAB realTweets": [c.series.values for c in load_corpus() if "realTweets" in c.name],
    }
    print("medians over streams: peak / median, 99.9th percentile / median, variance / mean")
    for name, streams in groups.items():
        stats = np.median(np.array([burstiness(v) for v in streams]), axis=0)
        print(f"  {name:40s} {stats[0]:6.1f} {stats[1]:6.1f} {stats[2]:6.1f}  ({len(streams)})")


def main() -> None:
    import argparse
    from collections import Counter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--series", type=int, default=60)
    ap.add_argument("--burstiness", action="store_true", help="compare with other counts")
    args = ap.parse_args()
    if args.burstiness:
        compare_burstiness(args.seed)
        return
    items = corpus(args.seed, args.series)
    anomalies = Counter(a for n in items for a in n.name[:-4].split("-")[1].split("+"))
    peak = [float(n.series.values.max() / max(np.median(n.series.values), 1.0)) for n in items]
    print(f"{len(items)} series, {sum(len(n.windows) for n in items)} windows")
    print("anomalies:", dict(anomalies))
    print(f"peak / median per series: median {np.median(peak):.1f}, max {max(peak):.1f}")


if __name__ == "__main__":
    main()
