"""A synthetic validation corpus with pattern anomalies and bursty count streams.

The built-in synthetic corpus (``level_novelty.synthetic``) injects point and collective
anomalies (spikes, level shifts, variance bursts, flatlines) at 6-12 local scales; every
scoring variant hits 107-110 of its 111-113 windows, so it cannot tell scoring changes
apart. This corpus adds what that one lacks, following the outlier taxonomy of Lai et al.
(2021, "Revisiting Time Series Outlier Detection", NeurIPS Datasets and Benchmarks): pattern
anomalies in periodic series, whose values stay inside the range seen (shapelet and
seasonal outliers), and count streams whose large bursts are normal. It is built from
generators and rules alone (no benchmark's labels or data).

Series (4,000 readings each; each cycle is one day of ``P`` readings, ``P`` from 24 (hourly
readings) to 288 (five-minute readings), timestamps to match, starting on a Saturday):

- ``smooth``: one to three harmonics of the day, quieter weekends, slow drift, noise;
- ``edged``: on/off cycles with ramps (busy and idle hours), quieter weekends, noise;
- ``counts``: Poisson counts with a periodic rate and self-exciting bursts (normal);
- the five built-in kinds (``tcnad.detector.lab.synthetic.KINDS``) with the built-in anomaly
  kinds at smaller magnitudes (3-6 local scales instead of 6-12).

Anomalies (1-3 per series, after the probationary 15%; NAB-style windows of 10% of a file
over its anomalies, centred on each start):

- periodic series: ``flat`` (the value held for 0.3-1 period), ``skipped`` (one period at
  the trough level), ``damped`` (one period at 0.2-0.4 of its amplitude), ``phase`` (the
  cycle jumps ahead by a quarter to half a period, from then on), ``fast`` (one period
  played at double speed);
- count streams: ``rate`` (the rate held at 2.5-4 times its level for 20-60 readings, no
  decay), ``dropout`` (the rate falls to a tenth for 20-60 readings).

Used by ``policy_sweep`` and ``scoring_candidates``. Asserts nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tcnad.detector.arrays import F64
from tcnad.detector.lab.nab import LabelledSeries
from tcnad.detector.lab.series import Series
from tcnad.detector.lab.synthetic import KINDS, generate_series, inject_anomalies

Gen = np.random.Generator

PERIODS = (24, 48, 96, 144, 288)  # readings per day: hourly to five-minute readings
DAY = 86_400
PERIODIC_ANOMALIES = ("flat", "skipped", "damped", "phase", "fast")
COUNT_ANOMALIES = ("rate", "dropout")


def weekly(rng: Gen, t: int, period: int, low: float = 0.4, high: float = 0.8) -> F64:
    """1 on working days, ``low``-``high`` on weekends (the series start on a Saturday)."""
    day = (np.arange(t) // period) % 7
    return np.where(day < 2, rng.uniform(low, high), 1.0)


def smooth(rng: Gen, t: int, period: int) -> F64:
    """Harmonics of ``period`` (``t + 3 period`` readings, so anomalies can borrow ahead)."""
    idx = np.arange(t, dtype=np.float64)
    shape = np.zeros(t)
    for h in range(1, int(rng.integers(1, 4)) + 1):
        amp = rng.uniform(0.5, 1.0) / h
        shape += amp * np.sin(2 * np.pi * h * idx / period + rng.uniform(0, 2 * np.pi))
    out = shape * weekly(rng, t, period)
    out += np.cumsum(rng.normal(0, 0.003, t))
    return out + rng.normal(0, rng.uniform(0.03, 0.15), t)


def edged(rng: Gen, t: int, period: int) -> F64:
    """On/off cycles with ramps: busy for 30-60% of each period."""
    phase = (np.arange(t) + rng.integers(0, period)) % period / period
    duty, ramp = rng.uniform(0.3, 0.6), rng.uniform(0.02, 0.1)
    up = np.clip(phase / ramp, 0, 1) * np.clip((duty - phase) / ramp, 0, 1)
    out = up * weekly(rng, t, period) + np.cumsum(rng.normal(0, 0.002, t))
    return out + rng.normal(0, rng.uniform(0.02, 0.1), t)


def count_rate(rng: Gen, t: int, period: int) -> F64:
    """Periodic rate plus self-exciting bursts (normal behaviour) of a count stream."""
    idx = np.arange(t, dtype=np.float64)
    base = rng.uniform(3, 40)
    rate = base * (1 + rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * idx / period))
    excess, out = 0.0, np.empty(t)
    decay = np.exp(-1 / rng.uniform(5, 30))
    starts = rng.random(t) < 1 / rng.uniform(300, 1000)
    for i in range(t):
        excess = excess * decay + (base * rng.lognormal(0.5, 0.8) if starts[i] else 0.0)
        out[i] = rate[i] + excess
    return out


def _apply_periodic(x: F64, kind: str, start: int, period: int, rng: Gen, length: int) -> F64:
    """Series (``length`` readings) with one pattern anomaly at ``start``."""
    y = x[:length].copy()
    if kind == "flat":
        end = start + int(period * rng.uniform(0.3, 1.0))
        y[start:end] = x[start]
    elif kind == "skipped":
        end = start + period
        trough = np.quantile(x[start - period : start], 0.05)
        noise = np.std(np.diff(x[start - period : start])) / 2
        y[start:end] = trough + rng.normal(0, noise, period)
    elif kind == "damped":
        end = start + period
        mean = x[start - period : start].mean()
        y[start:end] = mean + (x[start:end] - mean) * rng.uniform(0.2, 0.4)
    elif kind == "phase":
        shift = int(period * rng.uniform(0.25, 0.5))
        y[start:] = x[start + shift : length + shift]
    elif kind == "fast":
        end = start + period
        y[start:end] = x[start : start + 2 * period : 2]
    else:
        raise ValueError(f"unknown pattern anomaly {kind!r}")
    return y


def _apply_counts(rate: F64, kind: str, start: int, rng: Gen) -> F64:
    end = start + int(rng.integers(20, 60))
    out = rate.copy()
    if kind == "rate":
        out[start:end] = rate[start - 1] * rng.uniform(2.5, 4.0)
    elif kind == "dropout":
        out[start:end] = rate[start:end] * 0.1
    else:
        raise ValueError(f"unknown count anomaly {kind!r}")
    return out


def spaced_starts(rng: Gen, length: int, count: int, margin: int, gap: int) -> list[int]:
    """Up to ``count`` sorted starts after ``margin``, at least ``gap`` apart."""
    out: list[int] = []
    for _ in range(count * 50):
        if len(out) == count:
            break
        s = int(rng.integers(margin, length - gap))
        if all(abs(s - o) >= gap for o in out):
            out.append(s)
    return sorted(out)


Maker = Callable[[Gen, int, int], F64]
MAKERS: dict[str, Maker] = {"smooth": smooth, "edged": edged}


def series_with_anomalies(
    i: int, rng: Gen, length: int, margin: int
) -> tuple[str, int, F64, list[tuple[str, int]]]:
    """The ``i``-th series of the corpus: kind, period, values ``(length,)``, anomalies
    (kind, start)."""
    period = int(rng.choice(PERIODS))
    count = int(rng.integers(1, 4))
    slot = i % 4
    if slot in (0, 1):  # periodic: smooth twice as often as edged
        kind = "smooth" if slot == 0 or i % 8 == 1 else "edged"
        x = MAKERS[kind](rng, length + 3 * period, period)
        y = x[:length].copy()
        found = []
        for s in spaced_starts(rng, length, count, margin, 3 * period):
            a = str(rng.choice(PERIODIC_ANOMALIES))
            y = _apply_periodic(np.r_[y, x[length:]], a, s, period, rng, length)
            found.append((a, s))
        scale = 10 ** rng.uniform(-1, 3)
        return kind, period, rng.normal(0, 50) + scale * y, found
    if slot == 2:
        rate = count_rate(rng, length, period)
        found = []
        for s in spaced_starts(rng, length, count, margin, 200):
            a = str(rng.choice(COUNT_ANOMALIES))
            rate = _apply_counts(rate, a, s, rng)
            found.append((a, s))
        return "counts", period, rng.poisson(np.maximum(rate, 0.0)).astype(np.float64), found
    kind = KINDS[(i // 4) % len(KINDS)]
    x = generate_series(kind, length, rng)
    y, anomalies = inject_anomalies(x, rng, count, margin=margin, magnitude=(3.0, 6.0))
    return kind, period, y[:, 0], [(a.kind, a.start) for a in anomalies]


def labelled(name: str, y: F64, period: int, found: list[tuple[str, int]]) -> LabelledSeries:
    """A series of ``period`` readings a day from a Saturday, with NAB-style windows (10% of
    its length over its anomalies, centred on each start)."""
    length = y.size
    t0 = np.datetime64("2020-01-04T00:00:00", "us")  # a Saturday
    times = t0 + np.arange(length) * np.timedelta64(DAY // period, "s")
    half = int(0.1 * length / max(len(found), 1)) // 2
    windows = tuple((max(0, s - half), min(length - 1, s + half)) for _, s in found)
    return LabelledSeries(name, Series(name, times, y), windows)


def corpus(seed: int, n_series: int = 60, length: int = 4000) -> list[LabelledSeries]:
    """``n_series`` labelled series; same seed, same corpus."""
    rng = np.random.default_rng(seed)
    margin = int(0.175 * length)
    out = []
    for i in range(n_series):
        kind, period, y, found = series_with_anomalies(i, rng, length, margin)
        tags = "+".join(a for a, _ in found)
        out.append(labelled(f"pattern/{i:03d}-{kind}-{tags}.csv", y, period, found))
    return out


def main() -> None:
    import argparse
    from collections import Counter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--series", type=int, default=60)
    ap.add_argument("--out", default=None, help="write each series as timestamp,value CSV")
    args = ap.parse_args()
    items = corpus(args.seed, args.series)
    parts = [n.name.rsplit(".", 1)[0].split("-") for n in items]
    kinds = Counter(p[1] for p in parts)
    anomalies = Counter(a for p in parts for a in p[2].split("+") if a)
    print(f"{len(items)} series, {sum(len(n.windows) for n in items)} windows")
    print("series:", dict(kinds))
    print("anomalies:", dict(anomalies))
    if args.out:
        from pathlib import Path

        root = Path(args.out)
        for n in items:
            path = root / n.name
            path.parent.mkdir(parents=True, exist_ok=True)
            ts = np.datetime_as_string(n.series.timestamps, unit="s")
            rows = "\n".join(
                f"{t.replace('T', ' ')},{v!r}" for t, v in zip(ts, n.series.values, strict=True)
            )
            path.write_text("timestamp,value\n" + rows + "\n")


if __name__ == "__main__":
    main()
