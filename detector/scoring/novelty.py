"""Range novelty: a reading beyond the range of values seen so far.

A reading beyond that range by more than ``range_tolerance`` of it scores at least
``novelty_score``, once per run of such readings (a value that climbs to a new extreme over
several readings is one excursion). A new extreme that stays inside the band raises the
score but alerts nobody by itself.

State: ``[low_1..N, high_1..N]`` at ``layout.blocks(N).low``, and the novelty flag, the
scoring state's last float (``layout._NOVEL``).
"""

from __future__ import annotations

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.scoring.policy import AlertPolicy


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
