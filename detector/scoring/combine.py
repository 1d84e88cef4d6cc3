"""``score_batch``: one reading of each of B streams through every part of the scoring.

The anomaly score is the largest of the parts' scores (``StepResult.parts``): the
likelihood of the reading under the band, the daily pattern, and for a novel (range or
level) or stuck reading its floor score; zero before warm-up; kept only above the decaying
peak of recent scores (echo suppression). A reading starts or continues an incident when it
is out of band, stuck or off its daily pattern and scores at least ``alert_score`` (a new
extreme inside the band raises the score but alerts nobody by itself: the band already
allowed for it); an incident raises one alert, at its first reading, and the reading that
ends it resolves that alert (``StepResult.resolved``).

The scoring state is ``SLICES`` laid end to end (``scoring_layout``). Example::

    >>> lay = scoring_layout(1)
    >>> lay.size, lay.key.split(",")[:3], lay.at("daily"), lay.at("opened")
    (198, ['incident@1', 'band@1', 'likelihood@1'], slice(12, 162, None), slice(193, 198, None))
"""

from __future__ import annotations

import functools
import math
from functools import lru_cache

from tcnad.detector.arrays import F64, Arr, copy, device_of, may_hold_true, namespace
from tcnad.detector.result import StepResult, directions
from tcnad.detector.scoring import band, daily, incident, level, likelihood, novelty, repeats
from tcnad.detector.scoring.counts import COUNTS, _count_scale, from_count_scale
from tcnad.detector.scoring.layout import Slice, StatsLayout
from tcnad.detector.scoring.policy import AlertPolicy

# The slices before the incident's opening reading was kept (states of 205 floats for the
# shipped model).
SLICES_1: tuple[Slice, ...] = (
    incident.INCIDENT,
    band.BAND,
    likelihood.LIKELIHOOD,
    novelty.RANGE,
    repeats.REPEATS,
    daily.DAILY,
    level.LEVEL,
    COUNTS,
    novelty.NOVEL,
)
SLICES: tuple[Slice, ...] = (*SLICES_1, incident.OPENED)
# Every list of slices a stored state may have been laid out by, oldest first; the last is
# ``SLICES``. The first is identified by its size alone (as before slices had versions).
KNOWN_LAYOUTS: tuple[tuple[Slice, ...], ...] = (SLICES_1, SLICES)


@lru_cache(maxsize=64)
def scoring_layout(n_inputs: int) -> StatsLayout:
    """The layout of the scoring state for ``n_inputs`` values per reading."""
    return StatsLayout(SLICES, n_inputs)


def state_size(n_inputs: int) -> int:
    """Length of the scoring slice of a stream's stats."""
    return scoring_layout(n_inputs).size


def new_state(n_inputs: int, batch: int = 1) -> F64:
    """Scoring state of streams never scored: ``(batch, state_size(N))``."""
    return scoring_layout(n_inputs).fresh(batch)


def score_batch(
    policy: AlertPolicy,
    levels: F64,
    pending: Arr,
    obs: Arr,
    state: Arr,
    times: Arr | None = None,
    where: Arr | None = None,
    out: Arr | None = None,
) -> tuple[StepResult, Arr]:
    """Score B observations against their pending quantiles and advance the scoring state.

    levels: ``(Q,)`` (a numpy array); pending: ``(B, N, Q)`` raw quantiles forecast for this
    reading (NaN: none yet); obs: ``(B, N)``; state: ``(B, state_size(N))``; times: ``(B,)``
    the readings' epoch seconds (None or NaN: unknown; the daily-pattern score then stays
    0); where: ``(B, 2)`` the readings' partition and offset, kept with an alert so that
    the reading resolving it can name it (None or NaN: unknown). Returns the scores and
    the new state. The arrays other than ``levels`` are float64 numpy arrays, or torch
    tensors on one device: the scoring then runs there, in torch, and the result's arrays
    are tensors too (``StepResult.on_host`` copies them to numpy). out: ``(B,
    state_size(N))``, where the new state is written and which is returned (it may be a
    view, e.g. the scoring columns of the caller's rows; it must not overlap ``state``);
    None: a new array.
    """
    xp = namespace(obs, state)
    n = obs.shape[1]
    lay = scoring_layout(n)
    raw_obs = obs
    counts, obs, pending, state = _count_scale(policy.counts, obs, pending, state, lay)
    # The new state starts as a copy of the old; the daily profile and the recent level,
    # most of it, are then updated in place and every other slice is overwritten.
    if out is None:
        new = copy(state)
    else:
        out[...] = state
        new = out
    part = {s.name: state[:, lay.at(s.name)] for s in SLICES}
    count = part["incident"][:, 0]
    valid, cal, med = band._band(levels, pending, part["band"])
    lower, upper = cal[:, :, 0], cal[:, :, -1]
    miss = ((obs < lower) | (obs > upper)) & valid[:, None]
    outside = xp.any(miss, axis=1)
    p_each = band.tail_probability(cal, levels, obs)
    tail_p = xp.where(valid, xp.minimum(1.0, n * xp.min(p_each, axis=1)), 1.0)
    width = xp.maximum(upper - lower, band.TINY_WIDTH)
    sev = xp.maximum(xp.maximum(lower - obs, obs - upper), 0.0) / width
    severity = xp.where(valid, xp.max(sev, axis=1), 0.0)
    surprise = likelihood.surprise(policy.likelihood, tail_p)
    lik_score, lik = likelihood.likelihood_score(
        policy.likelihood, surprise, part["likelihood"][:, :2], count
    )
    rng = novelty.RANGE.split(part["range"], n)
    beyond, low, high = novelty.novelty(
        policy.novelty.range_tolerance, obs, rng["low"], rng["high"]
    )
    beyond &= count >= policy.novelty.novelty_after
    once = (part["novel"][:, 0] > 0.5) & bool(policy.novelty.novelty_once)
    novel = beyond & ~once  # once per run
    stuck, rep = repeats.repeats(policy.repeats, raw_obs, part["repeats"])
    warm = valid & (count >= policy.incident.warmup)
    pattern, _ = daily.daily_pattern(
        policy.daily, obs, times, warm, part["daily"], into=new[:, lay.at("daily")]
    )
    new_level, _ = level.level_novelty(
        policy.level, obs, part["level"], into=new[:, lay.at("level")]
    )
    flagged = novelty.graded(policy.novelty, lik_score)
    stuck_evidence = policy.repeats.repeats_weight * repeats.run_evidence(part["repeats"], rep, n)
    parts = {
        "band": lik_score,
        "novelty": xp.where(novel, flagged, 0.0),
        "level": xp.where(new_level & warm, flagged, 0.0),
        "repeats": stuck * novelty.graded(policy.novelty, xp.maximum(lik_score, stuck_evidence)),
        "daily": pattern,
    }
    raw = xp.where(warm, functools.reduce(xp.maximum, parts.values()), 0.0)
    score, echo = likelihood._echo(policy.likelihood, raw, part["likelihood"][:, 2])
    # A new extreme inside the band raises the score but is no alert by itself: the band
    # already allowed for it. A stuck value is, since a flatline never leaves the band, and
    # so is a day that strays from the stream's daily pattern.
    alert_at = policy.incident.alert_score
    off_pattern = (pattern > 0.0) & (pattern >= alert_at)
    worthy = warm & (outside | stuck | off_pattern) & (raw >= alert_at)
    alert = incident.alerts(policy.incident, part["incident"], worthy)
    incident_reading = worthy | (outside & ~warm)
    inc, out_run = incident.advance(part["incident"], valid, miss, incident_reading)
    new[:, lay.at("incident")] = inc
    dev = device_of(state)
    at = xp.full((alert.shape[0], 2), math.nan, device=dev) if where is None else where
    opened, ended = incident.resolve(
        policy.incident,
        part["opened"],
        part["incident"],
        inc,
        valid,
        incident_reading,
        alert,
        at,
        severity,
    )
    new[:, lay.at("opened")] = opened
    new[:, lay.at("band")] = band.calibrate(policy.band, part["band"], valid, miss, count, out_run)
    lik_new = xp.concat([lik, echo[:, None]], axis=1)
    new[:, lay.at("likelihood")] = xp.where(valid[:, None], lik_new, part["likelihood"])
    new[:, lay.at("range")] = xp.concat([low, high], axis=1)
    new[:, lay.at("repeats")] = rep
    new[:, lay.at("counts")] = counts
    new[:, lay.at("novel")] = beyond[:, None]
    if may_hold_true(counts):  # the band on the readings' own scale
        lower, upper = (xp.where(counts, from_count_scale(x), x) for x in (lower, upper))
        med = xp.where(counts[:, :, None], from_count_scale(med), med)
    nan = xp.full_like(lower, math.nan)
    fired = {k: xp.where(warm & (v >= alert_at) & (v > 0.0), v, 0.0) for k, v in parts.items()}
    out = StepResult(
        lower=xp.where(valid[:, None], lower, nan),
        median=xp.where(valid[:, None], med[:, :, 0], nan),
        upper=xp.where(valid[:, None], upper, nan),
        score=score,
        tail_prob=tail_p,
        severity=severity,
        outside=outside,
        alert=alert,
        warm=warm,
        parts=fired,
        direction=directions(obs, med[:, :, 0], p_each, stuck),
        resolved=ended.resolved,
        opening=ended.opening,
    )
    return out, new
