"""Per-reading scoring: observation vs the pending quantile band, online calibration, alerts.

Pure and batched over streams. A stream's scoring state is a slice of its ``stats`` vector
(``state_size(N)`` floats for ``N`` values per reading)::

    [count, calm, run, log_scale_1..N, s_mean, s_var, echo, low_1..N, high_1..N,
     last_1..N, repeats, longest | daily profile (``season_size(N)``, see daily_pattern) |
     recent level (``level_size(N)``, see level_novelty) | count_1..N, novel]

- count: readings scored against a band so far;
- calm: readings since the last incident reading: out of band (or a stuck value, or off
  the daily pattern) and, once
  warm, with an anomaly score (before echo suppression) of at least ``alert_score``. An
  incident is a run of such readings less than ``cooldown`` apart; it raises one alert, at
  its first reading;
- run: consecutive out-of-band readings (past ``shift_patience`` a persisting level shift is
  treated as the new normal: it stops widening the band);
- log_scale: per value, adaptive conformal width scale. Calibrated quantiles are
  ``median + exp(log_scale) * (q - median)``; after each reading ``log_scale += gain *
  (miss - target / N)``, so the long-run miss rate of the band tracks the target;
- s_mean, s_var: the stream's own running mean and variance of its surprise
  ``-ln(tail probability)``;
- echo: the decaying peak of recent scores (a reading scores only above it);
- low, high: the range of values seen so far;
- last, repeats, longest: the previous reading, how many readings in a row have repeated it
  exactly, and the longest such run that has ended (a stuck value);
- daily profile: per half hour of the day, the level and spread of the stream's readings
  there, and how far the last two hours or so strayed from them.
- recent level: the last ``LEVEL_WINDOW`` readings, the range of their average seen so far,
  and when that average last set a new extreme;
- count: per value, 1 while every reading of it has been a non-negative integer. Such a
  value is scored on the square-root scale of counts (Anscombe's transform), where its
  spread does not grow with its level: the band, the range and the daily profile of a
  count live on that scale (the band is reported on the readings' own);
- novel: 1 if the last reading lay beyond the range seen before it (a run of such readings
  scores once, at its first).

The anomaly score rises with how improbable a reading is *for this stream*: its surprise is
standardised by the stream's own surprise history (an online anomaly likelihood, as in
Numenta's HTM detector), so a stream whose forecasts are always rough does not drown the
others in alarms. A reading beyond the range ever seen by more than ``range_tolerance`` of
that range scores at least ``novelty_score`` (once per run of such readings: a value that
climbs to a new extreme over several readings is one excursion), and so does a value
repeated exactly for longer than ``repeat_factor`` times the longest run of repeats seen (a
stuck sensor).
Where readings carry times and the stream has a daily pattern, a stretch of readings that
strays from the stream's usual values at that time of day scores too (a pattern anomaly:
a skipped, damped, flattened or early day whose values stay inside the range and the
band), rising with how many times the recent residual exceeds its usual size.
The average of the last ``LEVEL_WINDOW`` readings is held to the same test: where that
average sets a new extreme beyond its own range, and it has set none for at least
``level_gate`` of the stream's life so far (the stream's level has been bounded: in a random
walk or a stream that keeps moving to new regimes, new levels are routine), it scores at least
``novelty_score`` too, once per run (a plateau at a new level whose single readings stay
inside the range of values).
A new extreme that stays inside the band raises the score but alerts nobody by itself.
After a high score, the following readings score only where they exceed the decaying peak
(``echo_horizon``): one incident, one peak.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.errors import SpecError
from tcnad.detector.result import StepResult

CALM_NEVER = 1e9  # "calm" of a stream that never left its band
DAY = 86_400.0
SEASON_BINS = 48  # time-of-day bins of the daily profile (half an hour each)
SEASON_MIN_COUNT = 3  # readings a bin must have seen before it is compared with
SEASON_SLOW = 0.002  # weight of a reading in the stream-wide mean, spread and residual size
SEASON_WINDOW_DAYS = 1.0 / 12.0  # the recent residual averages about two hours
RESIDUAL_CAP = 50.0  # a residual counts at most this many times the bin's spread
LEVEL_WINDOW = 24  # readings averaged for the recent level (see level_novelty)
_MEAN, _VAR, _ECHO = 0, 1, 2  # offsets inside the likelihood block (after log_scale)
_NOVEL = -1  # the novelty flag is the scoring state's last float


def _count_flags(n_inputs: int) -> slice:
    """Where the per-value count flags lie in the scoring state (just before the novelty
    flag)."""
    return slice(-n_inputs - 1, _NOVEL)


@dataclass(frozen=True)
class AlertPolicy:
    """How bands are calibrated, how readings are scored, when they become alerts.

    warmup: readings scored before alerts (and non-zero anomaly scores) are allowed.
    target_miss_rate: long-run fraction of normal readings outside the calibrated band.
    calibration_gain: step of the adaptive conformal update of the log width scale.
    calibrate_after: readings before calibration updates start (early bands are rough).
    min_scale, max_scale: bounds of the width scale.
    cooldown: in-band readings that end an incident (one incident = one alert).
    shift_patience: consecutive misses after which a shift stops widening the band.
    surprise_cap: surprise ``-ln p`` is capped here (p below ~4e-18 counts the same).
    history_weight: floor of the exponential weight of the surprise statistics
        (they remember about ``1 / history_weight`` readings).
    z_half: standardised surprise at which the anomaly score is 0.5.
    range_tolerance: a value beyond the range seen so far by more than this fraction of
        the range is novel (<= 0: off).
    novelty_score: the least score of a novel reading.
    novelty_after: readings a stream must have been scored before range novelty counts (its
        range is still being learned before that).
    novelty_once: a run of consecutive novel readings scores ``novelty_score`` only at its
        first reading (the later ones score by their likelihood); False: every one does.
    repeat_factor: a value repeated exactly for more than this many times the longest run of
        repeats seen so far (and at least 3 readings) is novel too (0: off).
    echo_horizon: readings over which an incident's peak score decays by e (0: off).
    alert_score: least anomaly score (before echo suppression) of an out-of-band, stuck or
        off-pattern reading that starts or continues an incident (0: every out-of-band reading
        does). The default is the shipped model's NAB standard-profile threshold when it was
        set (0.567, rounded); the threshold has since moved to 0.555 with the scoring, and the
        default was kept (BENCHMARKS.md, "Detection quality").
    season_half: the daily-pattern score is ``e / (e + season_half)``, with ``e`` how many
        times the recent residual from the stream's time-of-day profile exceeds its usual
        size, minus one (0: off).
    season_gate: least strength of a stream's daily pattern (1 - residual from the profile /
        deviation from the mean) for the daily-pattern score to count.
    season_rate: weight of a reading in its time-of-day bin's level and spread.
    count_scale: score a value whose readings have all been non-negative integers (a count)
        on the variance-stabilising square-root scale (``count_scale_of``); False: always on
        the readings' own scale.
    level_novelty: score a new extreme of the average of the last ``LEVEL_WINDOW`` readings
        like a new extreme of a value (same ``range_tolerance``), where the stream is
        bounded (see ``level_gate``); False: off.
    level_gate: least fraction of the stream's readings so far that must have passed since
        the recent level last set a new extreme for a new one to count.
    """

    warmup: int = 200
    target_miss_rate: float = 0.01
    calibration_gain: float = 0.05
    calibrate_after: int = 32
    min_scale: float = 0.5
    max_scale: float = 4.0
    cooldown: int = 30
    shift_patience: int = 20
    surprise_cap: float = 40.0
    history_weight: float = 1e-3
    z_half: float = 8.0
    range_tolerance: float = 0.05
    novelty_score: float = 0.95
    novelty_after: int = 0
    novelty_once: bool = True
    echo_horizon: float = 300.0
    alert_score: float = 0.57
    repeat_factor: float = 2.0
    season_half: float = 3.0
    season_gate: float = 0.5
    season_rate: float = 0.1
    count_scale: bool = True
    level_novelty: bool = True
    level_gate: float = 0.5

    def __post_init__(self) -> None:
        if min(self.warmup, self.cooldown, self.calibrate_after, self.novelty_after) < 0:
            raise SpecError("warmup, cooldown, calibrate_after and novelty_after must be >= 0")
        if not 0.0 < self.target_miss_rate < 1.0:
            raise SpecError(f"target_miss_rate must be in (0, 1), got {self.target_miss_rate}")
        if not self.calibration_gain >= 0.0:
            raise SpecError("calibration_gain must be >= 0")
        if not 0.0 < self.min_scale <= 1.0 <= self.max_scale < math.inf:
            raise SpecError("need 0 < min_scale <= 1 <= max_scale < inf")
        if self.shift_patience < 1:
            raise SpecError("shift_patience must be >= 1")
        if not self.repeat_factor >= 0.0:
            raise SpecError("repeat_factor must be >= 0")
        if not (self.surprise_cap > 0.0 and self.z_half > 0.0 and self.echo_horizon >= 0.0):
            raise SpecError("surprise_cap and z_half must be > 0, echo_horizon >= 0")
        if not 0.0 < self.history_weight <= 1.0:
            raise SpecError("history_weight must be in (0, 1]")
        if not (0.0 <= self.novelty_score <= 1.0 and 0.0 <= self.alert_score <= 1.0):
            raise SpecError("novelty_score and alert_score must be in [0, 1]")
        if not (self.season_half >= 0.0 and 0.0 < self.season_rate <= 1.0):
            raise SpecError("season_half must be >= 0 and season_rate in (0, 1]")
        if not self.season_gate < 1.0:
            raise SpecError("season_gate must be < 1")
        if not 0.0 <= self.level_gate <= 1.0:
            raise SpecError(f"level_gate must be in [0, 1], got {self.level_gate}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def state_size(n_inputs: int) -> int:
    """Length of the scoring slice of a stream's stats."""
    return 8 + 4 * n_inputs + season_size(n_inputs) + level_size(n_inputs) + n_inputs + 1


def season_size(n_inputs: int) -> int:
    """Length of the daily-pattern block at the end of the scoring slice."""
    return 2 + SEASON_BINS + 4 * n_inputs + 2 * SEASON_BINS * n_inputs


def level_size(n_inputs: int) -> int:
    """Length of the recent-level block after the daily profile."""
    return (LEVEL_WINDOW + 2) * n_inputs + 3


def new_state(n_inputs: int, batch: int = 1) -> F64:
    """Scoring state of streams never scored: ``(batch, state_size(N))``."""
    out = np.zeros((batch, state_size(n_inputs)), dtype=np.float64)
    out[:, 1] = CALM_NEVER
    lik = 3 + n_inputs
    out[:, lik + _MEAN] = 1.0  # the surprise of a calibrated forecast is Exp(1)
    out[:, lik + _VAR] = 1.0
    out[:, lik + 3 : lik + 3 + 3 * n_inputs] = np.nan  # no range or last value yet
    season = 8 + 4 * n_inputs
    out[:, season : season + 2] = np.nan  # no reading time or interval yet
    scalars = season + 2 + SEASON_BINS
    out[:, scalars : scalars + n_inputs] = 1.0  # recent residual: its usual size
    out[:, scalars + 2 * n_inputs : scalars + 3 * n_inputs] = np.nan  # no mean yet
    level = season + season_size(n_inputs)
    window = LEVEL_WINDOW * n_inputs
    out[:, level + window + 1 : level + window + 1 + 2 * n_inputs] = np.nan  # no level range
    out[:, level + window + 1 + 2 * n_inputs] = -1.0  # no new extreme of the level yet
    out[:, _count_flags(n_inputs)] = 1.0  # a count until a reading says otherwise
    return out


_ANSCOMBE = 0.375
_ANSCOMBE_ROOT = math.sqrt(_ANSCOMBE)


def count_scale_of(x: F64) -> F64:
    """The square-root scale of counts: ``sqrt(x + 3/8) - sqrt(3/8)`` (Anscombe's
    variance-stabilising transform of Poisson counts, shifted to map 0 to 0), extended to
    negative ``x`` as an odd function so that it is monotone on every real."""
    a = np.abs(x)
    out: F64 = np.sign(x) * (np.sqrt(a + _ANSCOMBE) - _ANSCOMBE_ROOT)
    return out


def from_count_scale(y: F64) -> F64:
    """Inverse of ``count_scale_of``."""
    a = np.abs(y) + _ANSCOMBE_ROOT
    out: F64 = np.sign(y) * (a * a - _ANSCOMBE)
    return out


def tail_probability(cal: F64, levels: F64, obs: F64) -> F64:
    """Two-sided tail probability ``2 min(F, 1 - F)`` of obs under the distribution whose
    quantiles at ``levels`` are ``cal``, interpolated linearly inside and with exponential
    tails beyond the extremes. cal: ``(..., Q)`` non-decreasing, levels ``(Q,)``, obs ``(...)``.
    """
    tiny = 1e-12
    q = cal.shape[-1]
    idx = np.clip((obs[..., None] >= cal).sum(axis=-1), 1, q - 1)
    c_lo = np.take_along_axis(cal, (idx - 1)[..., None], -1)[..., 0]
    c_hi = np.take_along_axis(cal, idx[..., None], -1)[..., 0]
    t_lo, t_hi = levels[idx - 1], levels[idx]
    frac = np.clip((obs - c_lo) / np.maximum(c_hi - c_lo, tiny), 0.0, 1.0)
    cdf = t_lo + (t_hi - t_lo) * frac
    beta_lo = np.maximum(cal[..., 1] - cal[..., 0], tiny) / math.log(levels[1] / levels[0])
    rate_hi = math.log((1 - levels[-2]) / (1 - levels[-1]))
    beta_hi = np.maximum(cal[..., -1] - cal[..., -2], tiny) / rate_hi
    below = levels[0] * np.exp(np.minimum((obs - cal[..., 0]) / beta_lo, 0.0))
    above = (1 - levels[-1]) * np.exp(np.minimum((cal[..., -1] - obs) / beta_hi, 0.0))
    cdf = np.where(obs < cal[..., 0], below, cdf)
    upper_tail = np.where(obs > cal[..., -1], above, 1.0 - cdf)
    out: F64 = np.clip(2.0 * np.minimum(cdf, upper_tail), 0.0, 1.0)
    return out


def likelihood_score(policy: AlertPolicy, surprise: F64, lik: F64, count: F64) -> tuple[F64, F64]:
    """Surprise standardised by the stream's own history, squashed into [0, 1).

    surprise, count: ``(B,)``; lik: ``(B, 2)`` [mean, var] before this reading. Returns the
    score ``z+ / (z+ + z_half)`` and the updated [mean, var].
    """
    mean, var = lik[:, _MEAN], lik[:, _VAR]
    z = np.maximum((surprise - mean) / np.sqrt(np.maximum(var, 1e-2)), 0.0)
    w = np.maximum(1.0 / (count + 2.0), policy.history_weight)
    d = surprise - mean
    new = np.stack([mean + w * d, (1.0 - w) * (var + w * d * d)], axis=1)
    return z / (z + policy.z_half), new


def novelty(policy: AlertPolicy, obs: F64, low: F64, high: F64) -> tuple[B8, F64, F64]:
    """Readings beyond the range seen so far. obs, low, high: ``(B, N)`` (NaN: nothing seen).

    Returns ``(novel (B,), new_low, new_high)``.
    """
    span = high - low
    with np.errstate(invalid="ignore"):
        beyond = (obs > high + policy.range_tolerance * span) | (
            obs < low - policy.range_tolerance * span
        )
        novel: B8 = np.asarray((beyond & (span > 0)).any(axis=1) & (policy.range_tolerance > 0))
    return novel, np.fmin(low, obs), np.fmax(high, obs)


def repeats(policy: AlertPolicy, obs: F64, rep: F64) -> tuple[B8, F64]:
    """A value repeated for longer than ``repeat_factor`` times the longest run seen.

    obs: ``(B, N)``; rep: ``(B, N + 2)`` [last_1..N, repeats, longest]. Returns
    ``(stuck (B,), new rep)``; a run is stuck once, at the reading that crosses the limit;
    runs shorter than 3 readings never count.
    """
    n = obs.shape[1]
    last, run, longest = rep[:, :n], rep[:, n], rep[:, n + 1]
    same = (obs == last).all(axis=1)
    new_run = np.where(same, run + 1.0, 0.0)
    new_longest = np.where(same, longest, np.maximum(longest, run))
    limit = np.maximum(policy.repeat_factor * longest, 2.0)
    crossing = (new_run > limit) & (run <= limit)  # once per run
    stuck: B8 = np.asarray(same & crossing & (policy.repeat_factor > 0))
    return stuck, np.concatenate([obs, new_run[:, None], new_longest[:, None]], axis=1)


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


def level_novelty(policy: AlertPolicy, obs: F64, block: F64) -> tuple[B8, F64]:
    """A new extreme of the recent level in a stream whose level has been bounded.

    obs: ``(B, N)``; block: ``(B, level_size(N))`` [last ``LEVEL_WINDOW`` readings
    (slot-major, a ring), readings seen, level low_1..N, level high_1..N, reading at which
    the level last set a new extreme (-1: never), whether the last reading's level was
    beyond its range]. The level is the average of the last ``LEVEL_WINDOW`` readings, once
    there are that many. It is beyond its range where it exceeds the range of the earlier
    levels by more than ``range_tolerance`` of that range (as ``novelty``). Returns
    ``(novel (B,), new block)``: novel at the first reading of a run of levels beyond their
    range, if at least ``level_gate`` of the readings seen before it came after the last
    such run's start (a stream that keeps reaching new levels, such as a random walk,
    never counts).
    """
    b, n = obs.shape
    w = LEVEL_WINDOW
    new = block.copy()
    seen = block[:, w * n]
    rows = np.arange(b)
    slot = (seen % w).astype(np.int64)
    ring = new[:, : w * n].reshape(b, w, n)  # a view: the reading lands in place
    ring[rows, slot] = obs
    full = (seen + 1 >= w)[:, None]
    with np.errstate(invalid="ignore"):
        level = np.where(full, ring.mean(axis=1), np.nan)
    at = w * n + 1
    low, high = block[:, at : at + n], block[:, at + n : at + 2 * n]
    last, was = block[:, at + 2 * n], block[:, at + 2 * n + 1] > 0.5
    extreme, new_low, new_high = novelty(policy, level, low, high)  # NaN level: never
    since = np.where(last >= 0, seen - last, seen)
    bounded = since >= policy.level_gate * seen
    novel: B8 = np.asarray(extreme & ~was & bounded & bool(policy.level_novelty))
    new[:, w * n] = seen + 1
    new[:, at : at + n] = new_low
    new[:, at + n : at + 2 * n] = new_high
    new[:, at + 2 * n] = np.where(extreme, seen, last)
    new[:, at + 2 * n + 1] = extreme
    return novel, new


def _echo(policy: AlertPolicy, score: F64, echo: F64) -> tuple[F64, F64]:
    """Keep a score only above the decaying peak of recent scores. ``(B,)`` each."""
    if policy.echo_horizon <= 0:
        return score, echo
    decayed = echo * math.exp(-1.0 / policy.echo_horizon)
    return np.where(score > decayed, score, 0.0), np.maximum(decayed, score)


def _band(levels: F64, pending: F64, log_scale: F64) -> tuple[B8, F64, F64]:
    """Validity ``(B,)``, calibrated quantiles ``(B, N, Q)`` and medians ``(B, N, 1)``."""
    mid = int(np.searchsorted(levels, 0.5))
    valid: B8 = np.asarray(np.isfinite(pending).all(axis=(1, 2)), dtype=np.bool_)
    pend = np.where(valid[:, None, None], pending, 0.0)
    med = pend[:, :, mid : mid + 1]
    return valid, med + np.exp(log_scale)[:, :, None] * (pend - med), med


def _count_scale(
    policy: AlertPolicy, obs: F64, pending: F64, state: F64, lo_at: int, season_at: int
) -> tuple[B8, F64, F64, F64]:
    """Which values are counts, and the observation, the forecast quantiles and the state
    on the scale each value is scored on.

    A value is a count while every reading of it has been a non-negative integer; its
    band, range, daily profile and recent level then live on the square-root scale, where a
    count's spread no longer grows with its level (a burst of a busy hour and a lull of a
    quiet one weigh alike). At its first other reading it leaves that scale for good: its
    range is mapped back (exactly: the scale is monotone and a count's extremes are whole
    numbers) and its stream's daily profile and recent level start afresh. Returns
    ``(counts (B, N), obs, pending, state)``.
    """
    n = obs.shape[1]
    was = state[:, _count_flags(n)] > 0.5
    if not policy.count_scale:
        return np.zeros_like(was), obs, pending, state
    with np.errstate(invalid="ignore"):
        counts: B8 = np.asarray(was & (obs >= 0.0) & (obs == np.round(obs)))
    left = was & ~counts
    if left.any():
        state = state.copy()
        rng = state[:, lo_at : lo_at + 2 * n]
        both = np.concatenate([left, left], axis=1)
        state[:, lo_at : lo_at + 2 * n] = np.where(both, np.round(from_count_scale(rng)), rng)
        fresh = left.any(axis=1)
        # The daily profile and the recent level lie next to each other.
        both_at = slice(season_at, season_at + season_size(n) + level_size(n))
        state[fresh, both_at] = new_state(n, int(fresh.sum()))[:, both_at]
    if counts.any():
        obs = np.where(counts, count_scale_of(obs), obs)
        pending = np.where(counts[:, :, None], count_scale_of(pending), pending)
    return counts, obs, pending, state


def score_batch(
    policy: AlertPolicy,
    levels: F64,
    pending: F64,
    obs: F64,
    state: F64,
    times: F64 | None = None,
) -> tuple[StepResult, F64]:
    """Score B observations against their pending quantiles and advance the scoring state.

    levels: ``(Q,)``; pending: ``(B, N, Q)`` raw quantiles forecast for this reading (NaN:
    none yet); obs: ``(B, N)``; state: ``(B, state_size(N))``; times: ``(B,)`` the readings'
    epoch seconds (None or NaN: unknown; the daily-pattern score then stays 0). Returns the
    scores and the new state.
    """
    n = obs.shape[1]
    lik_at, lo_at, rep_at, season_at = 3 + n, 6 + n, 6 + 3 * n, 8 + 4 * n
    season_end = season_at + season_size(n)
    level_end = season_end + level_size(n)
    raw_obs = obs
    counts, obs, pending, state = _count_scale(policy, obs, pending, state, lo_at, season_at)
    count, calm = state[:, 0], state[:, 1]
    valid, cal, med = _band(levels, pending, state[:, 3:lik_at])
    lower, upper = cal[:, :, 0], cal[:, :, -1]
    miss = ((obs < lower) | (obs > upper)) & valid[:, None]
    outside: B8 = np.asarray(miss.any(axis=1), dtype=np.bool_)
    p_each = tail_probability(cal, levels, obs)
    tail_p = np.where(valid, np.minimum(1.0, n * p_each.min(axis=1)), 1.0)
    width = np.maximum(upper - lower, 1e-12)
    sev = np.maximum(np.maximum(lower - obs, obs - upper), 0.0) / width
    severity = np.where(valid, sev.max(axis=1), 0.0)
    surprise = np.minimum(-np.log(np.maximum(tail_p, 1e-300)), policy.surprise_cap)
    lik_score, lik = likelihood_score(policy, surprise, state[:, lik_at : lik_at + 2], count)
    beyond, low, high = novelty(
        policy, obs, state[:, lo_at : lo_at + n], state[:, lo_at + n : rep_at]
    )
    beyond &= count >= policy.novelty_after
    novel = beyond & ~((state[:, _NOVEL] > 0.5) & bool(policy.novelty_once))  # once per run
    stuck, rep = repeats(policy, raw_obs, state[:, rep_at:season_at])
    warm = valid & (count >= policy.warmup)
    pattern, season = daily_pattern(policy, obs, times, warm, state[:, season_at:season_end])
    new_level, level = level_novelty(policy, obs, state[:, season_end:level_end])
    novel |= new_level & warm
    raw = np.where(
        warm,
        np.maximum(np.maximum(lik_score, pattern), (novel | stuck) * policy.novelty_score),
        0.0,
    )
    score, echo = _echo(policy, raw, state[:, lik_at + _ECHO])
    # A new extreme inside the band raises the score but is no alert by itself: the band
    # already allowed for it. A stuck value is, since a flatline never leaves the band, and
    # so is a day that strays from the stream's daily pattern.
    off_pattern = (pattern > 0.0) & (pattern >= policy.alert_score)
    worthy = warm & (outside | stuck | off_pattern) & (raw >= policy.alert_score)
    alert = worthy & (calm >= policy.cooldown)
    new = _advance(policy, state, valid, miss, worthy | (outside & ~warm))
    new[:, lik_at : lik_at + 2] = np.where(valid[:, None], lik, state[:, lik_at : lik_at + 2])
    new[:, lik_at + _ECHO] = np.where(valid, echo, state[:, lik_at + _ECHO])
    new[:, lo_at:rep_at] = np.concatenate([low, high], axis=1)
    new[:, rep_at:season_at] = rep
    new[:, season_at:season_end] = season
    new[:, season_end:level_end] = level
    new[:, _count_flags(n)] = counts
    new[:, _NOVEL] = beyond
    if counts.any():  # the band on the readings' own scale
        lower, upper = (np.where(counts, from_count_scale(x), x) for x in (lower, upper))
        med = np.where(counts[:, :, None], from_count_scale(med), med)
    nan = np.full_like(lower, np.nan)
    out = StepResult(
        lower=np.where(valid[:, None], lower, nan),
        median=np.where(valid[:, None], med[:, :, 0], nan),
        upper=np.where(valid[:, None], upper, nan),
        score=score,
        tail_prob=tail_p,
        severity=severity,
        outside=outside,
        alert=alert,
        warm=warm,
    )
    return out, new


def _advance(policy: AlertPolicy, state: F64, valid: B8, miss: B8, incident: B8) -> F64:
    """Counters and calibration after one reading. state ``(B, state_size(N))``, miss ``(B, N)``."""
    n = miss.shape[1]
    count, calm, run = state[:, 0], state[:, 1], state[:, 2]
    new = state.copy()
    new[:, 0] = count + valid
    new[:, 1] = np.where(valid, np.where(incident, 0.0, np.minimum(calm + 1.0, CALM_NEVER)), calm)
    new_run = np.where(miss.any(axis=1), run + 1.0, 0.0)
    new[:, 2] = np.where(valid, new_run, run)
    update = valid & (count >= policy.calibrate_after) & (new_run <= policy.shift_patience)
    step = policy.calibration_gain * (miss.astype(np.float64) - policy.target_miss_rate / n)
    log_scale = state[:, 3 : 3 + n] + np.where(update[:, None], step, 0.0)
    new[:, 3 : 3 + n] = np.clip(log_scale, math.log(policy.min_scale), math.log(policy.max_scale))
    return new
