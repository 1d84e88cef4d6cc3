"""``score_batch``: one reading of each of B streams through every part of the scoring.

The anomaly score is the largest of the likelihood score, the daily-pattern score and, for a
novel (range or level) or stuck reading, ``novelty_score``; zero before warm-up; kept only
above the decaying peak of recent scores (echo suppression). A reading starts or continues
an incident when it is out of band, stuck or off its daily pattern and scores at least
``alert_score`` (a new extreme inside the band raises the score but alerts nobody by
itself: the band already allowed for it); an incident raises one alert, at its first
reading. ``_advance`` then updates the counters and the band's calibration.
"""

from __future__ import annotations

import math

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.result import StepResult
from tcnad.detector.scoring.band import _band, tail_probability
from tcnad.detector.scoring.counts import _count_scale, from_count_scale
from tcnad.detector.scoring.daily import daily_pattern
from tcnad.detector.scoring.layout import _NOVEL, CALM_NEVER, _count_flags, blocks
from tcnad.detector.scoring.level import level_novelty
from tcnad.detector.scoring.likelihood import _ECHO, _echo, likelihood_score
from tcnad.detector.scoring.novelty import novelty
from tcnad.detector.scoring.policy import AlertPolicy
from tcnad.detector.scoring.repeats import repeats


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
    lik_at, lo_at, rep_at, season_at, season_end, level_end = blocks(n)
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
