"""The daily pattern: how far recent readings stray from the stream's usual values at this
time of day.

Where readings carry times and the stream has a daily pattern, a stretch of readings that
strays from the stream's usual values at that time of day scores (a pattern anomaly: a
skipped, damped, flattened or early day whose values stay inside the range and the band),
rising with how many times the recent residual exceeds its usual size.

State: the daily profile, ``season_size(N)`` floats at ``layout.blocks(N).season``: per half
hour of the day, the level and spread of the stream's readings there, and how far the last
two hours or so strayed from them (layout in ``daily_pattern``).
"""

from __future__ import annotations

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.scoring.policy import AlertPolicy

DAY = 86_400.0
SEASON_BINS = 48  # time-of-day bins of the daily profile (half an hour each)
SEASON_MIN_COUNT = 3  # readings a bin must have seen before it is compared with
SEASON_SLOW = 0.002  # weight of a reading in the stream-wide mean, spread and residual size
SEASON_WINDOW_DAYS = 1.0 / 12.0  # the recent residual averages about two hours
RESIDUAL_CAP = 50.0  # a residual counts at most this many times the bin's spread


def season_size(n_inputs: int) -> int:
    """Length of the daily-pattern block at the end of the scoring slice."""
    return 2 + SEASON_BINS + 4 * n_inputs + 2 * SEASON_BINS * n_inputs


def daily_pattern(
    policy: AlertPolicy, obs: F64, times: F64 | None, ready: B8, season: F64
) -> tuple[F64, F64]:
    """How far recent readings stray from the stream's usual value at this time of day.

    obs: ``(B, N)``; times: ``(B,)`` epoch seconds (None or NaN: unknown, nothing changes);
    ready: ``(B,)`` streams past warm-up; season: ``(B, season_size(N))`` [last time,
    interval, bin counts, recent residual_1..N, residual size_1..N, mean_1..N,
    spread_1..N, bin levels (bin-major), bin spreads (bin-major)].

    Each half-hour bin of the day keeps an exponentially weighted level and spread of the
    readings that fell in it. A reading's residual is its distance from its bin's level in
    units of the bin's spread; the recent residual averages about two hours of readings
    (a twelfth of a day, at least 3 readings). The score is ``e / (e + season_half)`` with
    ``e = recent residual - 1``, where the stream has a daily pattern: its residuals from
    the profile are less than ``1 - season_gate`` of its deviations from its mean. Returns
    the score ``(B,)`` (max over values) and the new block.
    """
    b, n = obs.shape
    new = season.copy()
    if times is None or policy.season_half <= 0:
        return np.zeros(b), new
    t = np.asarray(times, dtype=np.float64)
    has = np.isfinite(t)
    nb = SEASON_BINS
    sc = 2 + nb
    last, dt = season[:, 0], season[:, 1]
    step = t - last
    seen = has & np.isfinite(step) & (step > 0)
    new[:, 1] = np.where(seen, np.where(np.isfinite(dt), dt + 0.01 * (step - dt), step), dt)
    new[:, 0] = np.where(has, t, last)
    per_day = DAY / np.where(np.isfinite(new[:, 1]), new[:, 1], DAY)
    rate = 1.0 / np.maximum(3.0, per_day * SEASON_WINDOW_DAYS)
    rows = np.arange(b)
    j = np.clip(np.floor(np.where(has, t, 0.0) % DAY * nb / DAY), 0, nb - 1).astype(np.int64)
    count = season[rows, 2 + j]
    recent, size = season[:, sc : sc + n], season[:, sc + n : sc + 2 * n]
    mean, spread = season[:, sc + 2 * n : sc + 3 * n], season[:, sc + 3 * n : sc + 4 * n]
    # Views into the new block (splitting the last axis keeps them views): bin updates land
    # in place.
    levels = new[:, sc + 4 * n : sc + 4 * n + nb * n].reshape(b, nb, n)
    spreads = new[:, sc + 4 * n + nb * n :].reshape(b, nb, n)
    level, bin_spread = levels[rows, j], spreads[rows, j]
    known = np.isfinite(mean)
    tiny = 1e-9 * (np.where(known, np.abs(mean), 0.0) + spread) + 1e-12
    dist = np.abs(obs - level)
    compare = (has & ready & (count >= SEASON_MIN_COUNT))[:, None]
    residual = np.minimum(dist / (bin_spread + tiny), RESIDUAL_CAP)
    new_recent = recent + rate[:, None] * (np.where(compare, residual, 1.0) - recent)
    strength = 1.0 - size / np.maximum(spread, 1e-12)
    excess = new_recent - 1.0
    on = compare & (strength > policy.season_gate) & (excess > 0)
    each = np.where(on, excess / (np.maximum(excess, 0.0) + policy.season_half), 0.0)
    # Updates, for readings with a time.
    h = has[:, None]
    first = (count == 0)[:, None]
    dev = np.where(known, np.abs(obs - mean), 0.0)
    upd = policy.season_rate
    new_level = np.where(first, obs, level + upd * (obs - level))
    new_spread = np.where(first, spread, bin_spread + upd * (dist - bin_spread))
    levels[rows, j] = np.where(h, new_level, level)
    spreads[rows, j] = np.where(h, new_spread, bin_spread)
    new[rows, 2 + j] = count + has
    new[:, sc : sc + n] = np.where(h, new_recent, recent)
    new[:, sc + n : sc + 2 * n] = np.where(h & ~first, size + SEASON_SLOW * (dist - size), size)
    new[:, sc + 2 * n : sc + 3 * n] = np.where(
        h, np.where(known, mean + SEASON_SLOW * (obs - mean), obs), mean
    )
    new[:, sc + 3 * n : sc + 4 * n] = np.where(h, spread + SEASON_SLOW * (dev - spread), spread)
    return each.max(axis=1), new
