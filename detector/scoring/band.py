"""The calibrated band and the tail probability of a reading under it.

The model forecasts raw quantiles; the band scores a reading against them widened or
narrowed about the median by the stream's adaptive conformal scale,
``median + exp(log_scale) * (q - median)`` (``log_scale`` is updated after every reading, see
``combine._advance``). The tail probability interpolates the calibrated quantiles linearly
and extends them with exponential tails.
"""

from __future__ import annotations

import math

import numpy as np

from tcnad.detector.arrays import B8, F64


def _band(levels: F64, pending: F64, log_scale: F64) -> tuple[B8, F64, F64]:
    """Validity ``(B,)``, calibrated quantiles ``(B, N, Q)`` and medians ``(B, N, 1)``."""
    mid = int(np.searchsorted(levels, 0.5))
    valid: B8 = np.asarray(np.isfinite(pending).all(axis=(1, 2)), dtype=np.bool_)
    pend = np.where(valid[:, None, None], pending, 0.0)
    med = pend[:, :, mid : mid + 1]
    return valid, med + np.exp(log_scale)[:, :, None] * (pend - med), med


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
