"""The count scale: a value whose readings have all been non-negative integers is scored on
the square-root scale of counts (Anscombe's transform), where its spread does not grow with
its level.

The band, the range, the daily profile and the recent level of a count live on that scale;
the band is reported on the readings' own.

State: per value, a count flag (``layout._count_flags``), 1 while every reading of it has
been a non-negative integer.
"""

from __future__ import annotations

import math

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.scoring.daily import season_size
from tcnad.detector.scoring.layout import _count_flags, new_state
from tcnad.detector.scoring.level import level_size
from tcnad.detector.scoring.policy import AlertPolicy

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
