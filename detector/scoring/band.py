"""The calibrated band, the tail probability of a reading under it, and its calibration.

The model forecasts raw quantiles; the band scores a reading against them widened or
narrowed about the median by the stream's adaptive conformal scale,
``median + exp(log_scale) * (q - median)``; after each reading ``log_scale += gain * (miss -
target / N)``, so the long-run miss rate of the band tracks the target. The tail
probability interpolates the calibrated quantiles linearly and extends them with
exponential tails.

State: ``BAND``, per value the log width scale. Parameters: ``BandPolicy``. Example: a
reading at the median of a band has tail probability 1, one at its 5 % quantile 0.1::

    >>> levels = np.array([0.05, 0.5, 0.95])
    >>> cal = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    >>> tail_probability(cal, levels, np.array([0.0, -1.0])).round(3)
    array([1. , 0.1])
    >>> p = BandPolicy()
    >>> calibrate(p, np.zeros((1, 1)), np.array([True]), np.array([[True]]),
    ...           np.array([40.0]), np.array([1.0])).round(4)
    array([[0.0495]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tcnad.detector.arrays import F64, Arr, constant, namespace
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import Field, Slice

BAND = Slice("band", 1, (Field("log_scale", per="input"),))
TINY_WIDTH = 1e-12  # the least quantile gap and band width divided by


@dataclass(frozen=True)
class BandPolicy:
    """How the band is calibrated.

    target_miss_rate: long-run fraction of normal readings outside the calibrated band.
    calibration_gain: step of the adaptive conformal update of the log width scale.
    calibrate_after: readings before calibration updates start (early bands are rough).
    min_scale, max_scale: bounds of the width scale.
    shift_patience: consecutive misses after which a shift stops widening the band.
    """

    target_miss_rate: float = 0.01
    calibration_gain: float = 0.05
    calibrate_after: int = 32
    min_scale: float = 0.5
    max_scale: float = 4.0
    shift_patience: int = 20

    def __post_init__(self) -> None:
        if self.calibrate_after < 0:
            raise SpecError("calibrate_after must be >= 0")
        if not 0.0 < self.target_miss_rate < 1.0:
            raise SpecError(f"target_miss_rate must be in (0, 1), got {self.target_miss_rate}")
        if not self.calibration_gain >= 0.0:
            raise SpecError("calibration_gain must be >= 0")
        if not 0.0 < self.min_scale <= 1.0 <= self.max_scale < math.inf:
            raise SpecError("need 0 < min_scale <= 1 <= max_scale < inf")
        if self.shift_patience < 1:
            raise SpecError("shift_patience must be >= 1")


def _band(levels: F64, pending: Arr, log_scale: Arr) -> tuple[Arr, Arr, Arr]:
    """Validity ``(B,)``, calibrated quantiles ``(B, N, Q)`` and medians ``(B, N, 1)``.
    levels: ``(Q,)`` on the host."""
    xp = namespace(pending)
    mid = int(np.searchsorted(levels, 0.5))
    valid = xp.all(xp.isfinite(pending), axis=(1, 2))
    pend = xp.where(valid[:, None, None], pending, 0.0)
    med = pend[:, :, mid : mid + 1]
    return valid, med + xp.exp(log_scale)[:, :, None] * (pend - med), med


def tail_probability(cal: Arr, levels: F64, obs: Arr) -> Arr:
    """Two-sided tail probability ``2 min(F, 1 - F)`` of obs under the distribution whose
    quantiles at ``levels`` are ``cal``, interpolated linearly inside and with exponential
    tails beyond the extremes. cal: ``(..., Q)`` non-decreasing, levels ``(Q,)`` (a numpy
    array on the host), obs ``(...)``.
    """
    xp = namespace(cal, obs)
    tiny = TINY_WIDTH
    q = cal.shape[-1]
    idx = xp.clip(xp.sum(obs[..., None] >= cal, axis=-1), 1, q - 1)
    c_lo = xp.take_along_axis(cal, (idx - 1)[..., None], axis=-1)[..., 0]
    c_hi = xp.take_along_axis(cal, idx[..., None], axis=-1)[..., 0]
    lv = constant(levels, cal)
    t_lo, t_hi = lv[idx - 1], lv[idx]
    frac = xp.clip((obs - c_lo) / xp.maximum(c_hi - c_lo, tiny), 0.0, 1.0)
    cdf = t_lo + (t_hi - t_lo) * frac
    beta_lo = xp.maximum(cal[..., 1] - cal[..., 0], tiny) / math.log(levels[1] / levels[0])
    rate_hi = math.log((1 - levels[-2]) / (1 - levels[-1]))
    beta_hi = xp.maximum(cal[..., -1] - cal[..., -2], tiny) / rate_hi
    below = levels[0] * xp.exp(xp.minimum((obs - cal[..., 0]) / beta_lo, 0.0))
    above = (1 - levels[-1]) * xp.exp(xp.minimum((cal[..., -1] - obs) / beta_hi, 0.0))
    cdf = xp.where(obs < cal[..., 0], below, cdf)
    upper_tail = xp.where(obs > cal[..., -1], above, 1.0 - cdf)
    return xp.clip(2.0 * xp.minimum(cdf, upper_tail), 0.0, 1.0)


def calibrate(
    policy: BandPolicy, log_scale: Arr, valid: Arr, miss: Arr, count: Arr, out_run: Arr
) -> Arr:
    """The log width scales ``(B, N)`` after one reading: stepped towards the target miss
    rate once ``calibrate_after`` readings were scored and while a run of misses
    (``out_run``, this reading's included) is no longer than ``shift_patience``."""
    xp = namespace(log_scale)
    n = miss.shape[1]
    update = valid & (count >= policy.calibrate_after) & (out_run <= policy.shift_patience)
    step = policy.calibration_gain * (xp.astype(miss, xp.float64) - policy.target_miss_rate / n)
    new = log_scale + xp.where(update[:, None], step, 0.0)
    return xp.clip(new, math.log(policy.min_scale), math.log(policy.max_scale))
