"""Per-reading scoring: observation vs the pending quantile band, online calibration, alerts.

Pure and batched over streams. A stream's scoring state is a slice of its ``stats`` vector,
``[count, calm, run, log_scale_1..log_scale_N]`` (``3 + N`` floats):

- count: readings scored against a band so far;
- calm: readings since the last out-of-band reading (an incident is a run of out-of-band
  readings less than ``cooldown`` apart; it raises one alert, at its first reading);
- run: consecutive out-of-band readings (past ``shift_patience`` a persisting level shift is
  treated as the new normal: it stops widening the band);
- log_scale: per value, adaptive conformal width scale. Calibrated quantiles are
  ``median + exp(log_scale) * (q - median)``; after each reading ``log_scale += gain *
  (miss - target / N)``, so the long-run miss rate of the band tracks the target.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from detector.errors import SpecError

F64 = npt.NDArray[np.float64]
B8 = npt.NDArray[np.bool_]

CALM_NEVER = 1e9  # "calm" of a stream that never left its band


@dataclass(frozen=True)
class AlertPolicy:
    """How bands are calibrated and when an out-of-band reading becomes an alert.

    warmup: readings scored before alerts are allowed.
    target_miss_rate: long-run fraction of normal readings outside the calibrated band.
    calibration_gain: step of the adaptive conformal update of the log width scale.
    calibrate_after: readings before calibration updates start (early bands are rough).
    min_scale, max_scale: bounds of the width scale.
    cooldown: in-band readings that end an incident (one incident = one alert).
    shift_patience: consecutive misses after which a shift stops widening the band.
    p_floor: tail probability that maps to score 1 (score = log(1/p) / log(1/p_floor)).
    """

    warmup: int = 200
    target_miss_rate: float = 0.01
    calibration_gain: float = 0.05
    calibrate_after: int = 32
    min_scale: float = 0.5
    max_scale: float = 4.0
    cooldown: int = 30
    shift_patience: int = 20
    p_floor: float = 1e-6

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.cooldown < 0 or self.calibrate_after < 0:
            raise SpecError("warmup, cooldown and calibrate_after must be >= 0")
        if not 0.0 < self.target_miss_rate < 1.0:
            raise SpecError(f"target_miss_rate must be in (0, 1), got {self.target_miss_rate}")
        if not self.calibration_gain >= 0.0:
            raise SpecError("calibration_gain must be >= 0")
        if not 0.0 < self.min_scale <= 1.0 <= self.max_scale < math.inf:
            raise SpecError("need 0 < min_scale <= 1 <= max_scale < inf")
        if self.shift_patience < 1:
            raise SpecError("shift_patience must be >= 1")
        if not 0.0 < self.p_floor < 1.0:
            raise SpecError("p_floor must be in (0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScoreOutput:
    """Scores of B readings. lower, median, upper: ``(B, N)`` calibrated band (NaN where no
    band was pending); the rest ``(B,)``."""

    lower: F64
    median: F64
    upper: F64
    tail_prob: F64
    severity: F64
    score: F64
    outside: B8
    alert: B8
    warm: B8


def state_size(n_inputs: int) -> int:
    """Length of the scoring slice of a stream's stats."""
    return 3 + n_inputs


def new_state(n_inputs: int, batch: int = 1) -> F64:
    """Scoring state of streams never scored: ``(batch, 3 + N)``."""
    out = np.zeros((batch, state_size(n_inputs)), dtype=np.float64)
    out[:, 1] = CALM_NEVER
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


def score_batch(
    policy: AlertPolicy, levels: F64, pending: F64, obs: F64, state: F64
) -> tuple[ScoreOutput, F64]:
    """Score B observations against their pending quantiles and advance the scoring state.

    levels: ``(Q,)``; pending: ``(B, N, Q)`` raw quantiles forecast for this reading (NaN:
    none yet); obs: ``(B, N)``; state: ``(B, 3 + N)``. Returns the scores and the new state.
    """
    n = obs.shape[1]
    mid = int(np.searchsorted(levels, 0.5))
    valid: B8 = np.asarray(np.isfinite(pending).all(axis=(1, 2)), dtype=np.bool_)
    pend = np.where(valid[:, None, None], pending, 0.0)
    count, calm, log_scale = state[:, 0], state[:, 1], state[:, 3:]
    med = pend[:, :, mid : mid + 1]
    cal = med + np.exp(log_scale)[:, :, None] * (pend - med)
    lower, upper = cal[:, :, 0], cal[:, :, -1]
    miss = ((obs < lower) | (obs > upper)) & valid[:, None]
    outside = miss.any(axis=1)
    p_each = tail_probability(cal, levels, obs)
    tail_p = np.where(valid, np.minimum(1.0, n * p_each.min(axis=1)), 1.0)
    width = np.maximum(upper - lower, 1e-12)
    sev = np.maximum(np.maximum(lower - obs, obs - upper), 0.0) / width
    severity = np.where(valid, sev.max(axis=1), 0.0)
    score = np.clip(np.log(1.0 / np.maximum(tail_p, 1e-300)) / math.log(1.0 / policy.p_floor), 0, 1)
    warm = valid & (count >= policy.warmup)
    alert = warm & outside & (calm >= policy.cooldown)
    new = _advance(policy, state, valid, miss, outside)
    nan = np.full_like(lower, np.nan)
    out = ScoreOutput(
        lower=np.where(valid[:, None], lower, nan),
        median=np.where(valid[:, None], med[:, :, 0], nan),
        upper=np.where(valid[:, None], upper, nan),
        tail_prob=tail_p,
        severity=severity,
        score=np.where(valid, score, 0.0),
        outside=outside,
        alert=alert,
        warm=warm,
    )
    return out, new


def _advance(policy: AlertPolicy, state: F64, valid: B8, miss: B8, outside: B8) -> F64:
    """The scoring state after one reading. state ``(B, 3 + N)``, miss ``(B, N)``."""
    n = miss.shape[1]
    count, calm, run = state[:, 0], state[:, 1], state[:, 2]
    new = state.copy()
    new[:, 0] = count + valid
    new[:, 1] = np.where(valid, np.where(outside, 0.0, np.minimum(calm + 1.0, CALM_NEVER)), calm)
    new_run = np.where(outside, run + 1.0, 0.0)
    new[:, 2] = np.where(valid, new_run, run)
    update = valid & (count >= policy.calibrate_after) & (new_run <= policy.shift_patience)
    step = policy.calibration_gain * (miss.astype(np.float64) - policy.target_miss_rate / n)
    log_scale = state[:, 3:] + np.where(update[:, None], step, 0.0)
    new[:, 3:] = np.clip(log_scale, math.log(policy.min_scale), math.log(policy.max_scale))
    return new
