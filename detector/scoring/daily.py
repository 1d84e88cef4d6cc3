"""The daily pattern: how far recent readings stray from the stream's usual values at this
time of day.

Where readings carry times and the stream has a daily pattern, a stretch of readings that
strays from the stream's usual values at that time of day scores (a pattern anomaly: a
skipped, damped, flattened or early day whose values stay inside the range and the band),
rising with how many times the recent residual exceeds its usual size.

State: ``DAILY``: per half hour of the day, the level and spread of the stream's readings
there, and how far the last two hours or so strayed from them. Parameters:
``DailyPolicy``. Example: without reading times nothing scores and nothing changes::

    >>> import numpy as np
    >>> block = DAILY.fresh(1)[None, :]
    >>> score, new = daily_pattern(DailyPolicy(), np.array([[1.0]]), None, np.array([True]),
    ...                            block)
    >>> score.tolist(), np.array_equal(new, block, equal_nan=True)
    ([0.0], True)
"""

from __future__ import annotations

from dataclasses import dataclass

from tcnad.detector.arrays import Arr, copy, device_of, namespace
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import NAN, Field, Slice

DAY = 86_400.0
SEASON_BINS = 48  # time-of-day bins of the daily profile (half an hour each)
SEASON_MIN_COUNT = 3  # readings a bin must have seen before it is compared with
SEASON_SLOW = 0.002  # weight of a reading in the stream-wide mean, spread and residual size
SEASON_WINDOW_DAYS = 1.0 / 12.0  # the recent residual averages about two hours
SEASON_MIN_READINGS = 3.0  # ... and at least this many readings
INTERVAL_RATE = 0.01  # weight of a new gap between readings in the usual interval
RESIDUAL_CAP = 50.0  # a residual counts at most this many times the bin's spread
LEAST_SPREAD = 1e-12  # the stream-wide spread divided by is at least this
REL_TINY, ABS_TINY = 1e-9, 1e-12  # added to a bin's spread: relative to the level, absolute

DAILY = Slice(
    "daily",
    1,
    (
        Field("last_time", fresh=NAN),
        Field("interval", fresh=NAN),
        Field("bin_count", count=SEASON_BINS),
        Field("recent", per="input", fresh=1.0),  # the recent residual: its usual size
        Field("size", per="input"),
        Field("mean", per="input", fresh=NAN),
        Field("spread", per="input"),
        Field("bin_level", count=SEASON_BINS, per="input"),  # bin-major
        Field("bin_spread", count=SEASON_BINS, per="input"),  # bin-major
    ),
)


@dataclass(frozen=True)
class DailyPolicy:
    """season_half: the daily-pattern score is ``e / (e + season_half)``, with ``e`` how many
    times the recent residual from the stream's time-of-day profile exceeds its usual size,
    minus one (0: off). season_gate: least strength of a stream's daily pattern (1 -
    residual from the profile / deviation from the mean) for the score to count.
    season_rate: weight of a reading in its time-of-day bin's level and spread."""

    season_half: float = 3.0
    season_gate: float = 0.5
    season_rate: float = 0.1

    def __post_init__(self) -> None:
        if not (self.season_half >= 0.0 and 0.0 < self.season_rate <= 1.0):
            raise SpecError("season_half must be >= 0 and season_rate in (0, 1]")
        if not self.season_gate < 1.0:
            raise SpecError("season_gate must be < 1")


def season_size(n_inputs: int) -> int:
    """Length of the daily-pattern slice."""
    return DAILY.size(n_inputs)


def daily_pattern(
    policy: DailyPolicy,
    obs: Arr,
    times: Arr | None,
    ready: Arr,
    season: Arr,
    into: Arr | None = None,
) -> tuple[Arr, Arr]:
    """How far recent readings stray from the stream's usual value at this time of day.

    obs: ``(B, N)``; times: ``(B,)`` epoch seconds (None or NaN: unknown, nothing changes);
    ready: ``(B,)`` streams past warm-up; season: ``(B, season_size(N))`` the ``DAILY``
    slice.

    Each half-hour bin of the day keeps an exponentially weighted level and spread of the
    readings that fell in it. A reading's residual is its distance from its bin's level in
    units of the bin's spread; the recent residual averages about two hours of readings
    (a twelfth of a day, at least 3 readings). The score is ``e / (e + season_half)`` with
    ``e = recent residual - 1``, where the stream has a daily pattern: its residuals from
    the profile are less than ``1 - season_gate`` of its deviations from its mean. Returns
    the score ``(B,)`` (max over values) and the new block: ``into`` where given (an array
    that already holds a copy of ``season``, e.g. the daily slice of a copy of the whole
    state, updated in place: the bins of one reading are a few of its values, so copying
    the whole block again would cost more than the update), a new array otherwise.
    """
    xp = namespace(obs, season)
    b, n = obs.shape
    new = copy(season) if into is None else into
    if times is None or policy.season_half <= 0:
        return xp.zeros(b, dtype=xp.float64, device=device_of(obs)), new
    at = DAILY.offsets(n)
    t = xp.astype(times, xp.float64, copy=False)
    has = xp.isfinite(t)
    nb = SEASON_BINS
    last, dt = season[:, at["last_time"]][:, 0], season[:, at["interval"]][:, 0]
    step = t - last
    seen = has & xp.isfinite(step) & (step > 0)
    interval = xp.where(seen, xp.where(xp.isfinite(dt), dt + INTERVAL_RATE * (step - dt), step), dt)
    new[:, at["interval"]] = interval[:, None]
    new[:, at["last_time"]] = xp.where(has, t, last)[:, None]
    per_day = DAY / xp.where(xp.isfinite(interval), interval, DAY)
    rate = 1.0 / xp.maximum(SEASON_MIN_READINGS, per_day * SEASON_WINDOW_DAYS)
    rows = xp.arange(b, device=device_of(obs))
    j = xp.astype(xp.clip(xp.floor(xp.where(has, t, 0.0) % DAY * nb / DAY), 0, nb - 1), xp.int64)
    bins = at["bin_count"].start + j
    count = season[rows, bins]
    recent, size = season[:, at["recent"]], season[:, at["size"]]
    mean, spread = season[:, at["mean"]], season[:, at["spread"]]
    # Views into the new block (splitting the last axis keeps them views): bin updates land
    # in place.
    levels = new[:, at["bin_level"]].reshape(b, nb, n)
    spreads = new[:, at["bin_spread"]].reshape(b, nb, n)
    level, bin_spread = levels[rows, j], spreads[rows, j]
    known = xp.isfinite(mean)
    tiny = REL_TINY * (xp.where(known, xp.abs(mean), 0.0) + spread) + ABS_TINY
    dist = xp.abs(obs - level)
    compare = (has & ready & (count >= SEASON_MIN_COUNT))[:, None]
    residual = xp.minimum(dist / (bin_spread + tiny), RESIDUAL_CAP)
    new_recent = recent + rate[:, None] * (xp.where(compare, residual, 1.0) - recent)
    strength = 1.0 - size / xp.maximum(spread, LEAST_SPREAD)
    excess = new_recent - 1.0
    on = compare & (strength > policy.season_gate) & (excess > 0)
    each = xp.where(on, excess / (xp.maximum(excess, 0.0) + policy.season_half), 0.0)
    # Updates, for readings with a time.
    h = has[:, None]
    first = (count == 0)[:, None]
    dev = xp.where(known, xp.abs(obs - mean), 0.0)
    upd = policy.season_rate
    new_level = xp.where(first, obs, level + upd * (obs - level))
    new_spread = xp.where(first, spread, bin_spread + upd * (dist - bin_spread))
    levels[rows, j] = xp.where(h, new_level, level)
    spreads[rows, j] = xp.where(h, new_spread, bin_spread)
    new[rows, bins] = count + has
    new[:, at["recent"]] = xp.where(h, new_recent, recent)
    new[:, at["size"]] = xp.where(h & ~first, size + SEASON_SLOW * (dist - size), size)
    new[:, at["mean"]] = xp.where(h, xp.where(known, mean + SEASON_SLOW * (obs - mean), obs), mean)
    new[:, at["spread"]] = xp.where(h, spread + SEASON_SLOW * (dev - spread), spread)
    return xp.max(each, axis=1), new
