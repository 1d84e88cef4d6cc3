"""The count scale: a value whose readings have all been non-negative integers is scored on
the square-root scale of counts (Anscombe's transform), where its spread does not grow with
its level.

The band, the range, the daily profile and the recent level of a count live on that scale;
the band is reported on the readings' own.

State: ``COUNTS``, per value 1 while every reading of it has been a non-negative integer.
Parameters: ``CountsPolicy``. Example: the scale maps 0 to 0 and is undone exactly::

    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 100.0, -4.0])
    >>> count_scale_of(x).round(3).tolist()
    [0.0, 0.56, 9.406, -1.479]
    >>> from_count_scale(count_scale_of(x[1:])).round(9).tolist()
    [1.0, 100.0, -4.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tcnad.detector.arrays import Arr, constant, copy, may_hold_true, namespace, quiet
from tcnad.detector.scoring.layout import Field, Slice, StatsLayout

COUNTS = Slice("counts", 1, (Field("is_count", per="input", fresh=1.0),))
_ANSCOMBE = 0.375
_ANSCOMBE_ROOT = math.sqrt(_ANSCOMBE)


@dataclass(frozen=True)
class CountsPolicy:
    """count_scale: score a value whose readings have all been non-negative integers (a
    count) on the square-root scale (``count_scale_of``); False: always on the readings'
    own scale."""

    count_scale: bool = True


def count_scale_of(x: Arr) -> Arr:
    """The square-root scale of counts: ``sqrt(x + 3/8) - sqrt(3/8)`` (Anscombe's
    variance-stabilising transform of Poisson counts, shifted to map 0 to 0), extended to
    negative ``x`` as an odd function so that it is monotone on every real."""
    xp = namespace(x)
    a = xp.abs(x)
    return xp.sign(x) * (xp.sqrt(a + _ANSCOMBE) - _ANSCOMBE_ROOT)


def from_count_scale(y: Arr) -> Arr:
    """Inverse of ``count_scale_of``."""
    xp = namespace(y)
    a = xp.abs(y) + _ANSCOMBE_ROOT
    return xp.sign(y) * (a * a - _ANSCOMBE)


def _count_scale(
    policy: CountsPolicy, obs: Arr, pending: Arr, state: Arr, layout: StatsLayout
) -> tuple[Arr, Arr, Arr, Arr]:
    """Which values are counts, and the observation, the forecast quantiles and the state
    on the scale each value is scored on.

    A value is a count while every reading of it has been a non-negative integer; its
    band, range, daily profile and recent level then live on the square-root scale, where a
    count's spread no longer grows with its level (a burst of a busy hour and a lull of a
    quiet one weigh alike). At its first other reading it leaves that scale for good: its
    range is mapped back (exactly: the scale is monotone and a count's extremes are whole
    numbers) and its stream's daily profile and recent level start afresh. state: ``(B,
    layout.size)``. Returns ``(counts (B, N), obs, pending, state)``.
    """
    xp = namespace(obs, state)
    was = state[:, layout.at("counts")] > 0.5
    if not policy.count_scale:
        return xp.zeros_like(was), obs, pending, state
    with quiet(xp):
        counts = was & (obs >= 0.0) & (obs == xp.round(obs))
    left = was & ~counts
    if may_hold_true(left):
        state = copy(state)
        at = layout.at("range")
        rng = state[:, at]
        both = xp.concat([left, left], axis=1)
        state[:, at] = xp.where(both, xp.round(from_count_scale(rng)), rng)
        fresh = xp.any(left, axis=1)[:, None]
        for name in ("daily", "level"):
            place = layout.at(name)
            row = constant(layout.fresh()[0, place], state)
            state[:, place] = xp.where(fresh, row, state[:, place])
    if may_hold_true(counts):
        obs = xp.where(counts, count_scale_of(obs), obs)
        pending = xp.where(counts[:, :, None], count_scale_of(pending), pending)
    return counts, obs, pending, state
