"""Stuck values: a reading repeated exactly for longer than any run of repeats seen.

A value repeated for more than ``repeat_factor`` times the longest run of repeats seen so far
scores at least ``novelty_score`` and may alert, although a flatline never leaves its band.

State: ``[last_1..N, repeats, longest]`` at ``layout.blocks(N).rep``.
"""

from __future__ import annotations

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.scoring.policy import AlertPolicy


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
