"""Seeded synthetic series for training and demos, and anomaly injection with known positions.

Kinds: ``seasonal`` (daily/weekly-like cycles, drift, noise), ``random_walk``, ``garch``
(tick returns with volatility clustering), ``regime`` (Markov switching of level and noise),
``ar`` (mean-reverting AR(1) around a level). Every series is ``(T, N)`` float64.

Anomaly kinds (``ANOMALY_KINDS``), each of a size (per column) and a sign, applied by
``apply_anomaly`` to a whole series or, as the demo fleet of ``tcnad produce`` does, to a
stream block by block:

- ``spike``: one reading moved by ``sign * size``;
- ``level_shift``: every reading from ``start`` on moved by ``sign * size``;
- ``variance_burst``: readings ``start <= t < end`` get extra noise of standard deviation
  ``size / 2``;
- ``flatline``: readings ``start <= t < end`` hold the reading at ``start`` (a stuck sensor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tcnad.detector.arrays import F64

Gen = np.random.Generator

KINDS = ("seasonal", "random_walk", "garch", "regime", "ar")
ANOMALY_KINDS = ("spike", "level_shift", "variance_burst", "flatline")


def _seasonal(rng: Gen, t: int) -> F64:
    idx = np.arange(t, dtype=np.float64)
    period = rng.choice([24.0, 48.0, 96.0, 144.0, 288.0]) * rng.uniform(0.8, 1.25)
    out = rng.uniform(0.5, 3.0) * np.sin(2 * np.pi * idx / period + rng.uniform(0, 6.3))
    out += rng.uniform(0.0, 1.0) * np.sin(2 * np.pi * idx / (period * 7) + rng.uniform(0, 6.3))
    out += rng.uniform(0.0, 0.8) * np.sin(4 * np.pi * idx / period + rng.uniform(0, 6.3))
    out += rng.normal(0, 2e-3) * idx + np.cumsum(rng.normal(0, rng.uniform(0, 0.02), t))
    out += rng.normal(0, rng.uniform(0.05, 0.5), t)
    return np.asarray(out, np.float64)


def _random_walk(rng: Gen, t: int) -> F64:
    steps = rng.standard_t(rng.uniform(3, 30), t) * rng.uniform(0.1, 1.0)
    return np.cumsum(steps + rng.normal(0, 0.02))


def _garch(rng: Gen, t: int) -> F64:
    omega, alpha = rng.uniform(0.01, 0.1), rng.uniform(0.03, 0.15)
    beta = rng.uniform(0.75, 0.98 - alpha)
    var, out = omega / (1 - alpha - beta), np.empty(t)
    shocks = rng.standard_normal(t)
    for i in range(t):
        out[i] = np.sqrt(var) * shocks[i]
        var = omega + alpha * out[i] ** 2 + beta * var
    return out


def _regime(rng: Gen, t: int) -> F64:
    levels, scales = rng.normal(0, 3, 3), rng.uniform(0.1, 1.0, 3)
    stay = rng.uniform(0.995, 0.9995)
    state, out = 0, np.empty(t)
    flips = rng.random(t) > stay
    noise = rng.standard_normal(t)
    for i in range(t):
        if flips[i]:
            state = int(rng.integers(0, 3))
        out[i] = levels[state] + scales[state] * noise[i]
    return out


def _ar(rng: Gen, t: int) -> F64:
    phi, out = rng.uniform(0.3, 0.99), np.empty(t)
    noise = rng.normal(0, rng.uniform(0.1, 1.0), t)
    prev = 0.0
    for i in range(t):
        prev = phi * prev + noise[i]
        out[i] = prev
    return out


_MAKERS: dict[str, Callable[[Gen, int], F64]] = {
    "seasonal": _seasonal,
    "random_walk": _random_walk,
    "garch": _garch,
    "regime": _regime,
    "ar": _ar,
}


def generate_series(kind: str, length: int, rng: Gen, n_inputs: int = 1) -> F64:
    """One series ``(length, n_inputs)`` of ``kind``, in random units (offset and scale)."""
    if kind not in _MAKERS:
        raise ValueError(f"unknown series kind {kind!r}; choose from {KINDS}")
    cols = []
    for _ in range(n_inputs):
        base = _MAKERS[kind](rng, length)
        cols.append(rng.normal(0, 50) + 10 ** rng.uniform(-2, 3) * base)
    return np.stack(cols, axis=1)


def generate_corpus(
    n_series: int,
    length: int,
    seed: int,
    n_inputs: int = 1,
    kinds: Sequence[str] = KINDS,
) -> list[F64]:
    """``n_series`` series of ``(length, n_inputs)``, kinds in rotation; same seed, same data."""
    rng = np.random.default_rng(seed)
    return [generate_series(kinds[i % len(kinds)], length, rng, n_inputs) for i in range(n_series)]


@dataclass(frozen=True)
class Anomaly:
    """An injected anomaly starting at reading ``start``; ``end`` closes its labelled window.

    A level shift persists after ``end`` (the window labels the transition); the other
    kinds affect exactly the readings ``start <= t < end``.
    """

    kind: str
    start: int
    end: int


def _local_scale(x: F64) -> F64:
    """Robust per-column scale of one-step changes: ``(N,)``."""
    diffs = np.diff(x, axis=0)
    mad = np.median(np.abs(diffs - np.median(diffs, axis=0)), axis=0) * 1.4826
    return np.asarray(np.maximum(np.maximum(mad, x.std(axis=0) * 0.05), 1e-9), np.float64)


def inject_anomalies(
    x: F64,
    rng: Gen,
    count: int,
    kinds: Sequence[str] = ANOMALY_KINDS,
    margin: int = 100,
    magnitude: tuple[float, float] = (6.0, 12.0),
) -> tuple[F64, list[Anomaly]]:
    """Copy of ``x`` ``(T, N)`` with ``count`` anomalies at random, non-overlapping places
    after ``margin`` readings; returns it and the anomalies sorted by start."""
    out = x.copy()
    t = x.shape[0]
    scale = _local_scale(x)
    anomalies: list[Anomaly] = []
    taken = np.zeros(t, dtype=bool)
    for _ in range(count * 20):
        if len(anomalies) == count:
            break
        kind = kinds[int(rng.integers(0, len(kinds)))]
        dur = 1 if kind == "spike" else int(rng.integers(10, 60))
        if t - margin - dur <= margin:
            break
        start = int(rng.integers(margin, t - dur))
        if taken[max(0, start - margin) : start + dur + margin].any():
            continue
        taken[start : start + dur] = True
        _apply(out, kind, start, start + dur, scale * rng.uniform(*magnitude), rng)
        anomalies.append(Anomaly(kind, start, start + dur))
    return out, sorted(anomalies, key=lambda a: a.start)


def _apply(x: F64, kind: str, start: int, end: int, size: F64, rng: Gen) -> None:
    sign = rng.choice([-1.0, 1.0])
    noise = rng.normal(0, 1, (end - start, x.shape[1])) if kind == "variance_burst" else None
    apply_anomaly(x, kind, start, end, size, sign, noise)


def apply_anomaly(
    x: F64,
    kind: str,
    start: int,
    end: int,
    size: F64,
    sign: float = 1.0,
    noise: F64 | None = None,
    *,
    t0: int = 0,
    held: F64 | None = None,
) -> None:
    """Apply one anomaly on readings ``[start, end)`` to ``x``, in place.

    ``x`` is ``(n, N)``: readings ``t0 .. t0 + n`` of a series (the whole series for
    ``t0 = 0``), so a stream generated block by block gets the same effect as a whole one.
    ``size``: ``(N,)``; ``sign``: +1 or -1 (a variance burst has none). ``noise``:
    ``(end - start, N)`` standard normal draws (``variance_burst`` only). ``held``: the
    reading a ``flatline`` holds, ``(N,)``; needed only when ``x`` starts after ``start``.
    A level shift moves every reading from ``start`` on, so each later block of a stream
    needs it again."""
    n = x.shape[0]
    a, b = max(start - t0, 0), min(end - t0, n)  # rows of x within [start, end)
    if kind == "spike":
        if 0 <= start - t0 < n:
            x[start - t0] += sign * size
    elif kind == "level_shift":
        x[a:] += sign * size
    elif kind == "variance_burst":
        if noise is None:
            raise ValueError("a variance_burst needs its noise")
        if a < b:
            x[a:b] += noise[a + t0 - start : b + t0 - start] * size * 0.5
    elif kind == "flatline":
        if a < b:
            x[a:b] = x[start - t0] if held is None else held
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}; choose from {ANOMALY_KINDS}")
