"""Level novelty: a new extreme of the recent level in a stream whose level has been bounded.

The average of the last ``LEVEL_WINDOW`` readings is held to the range-novelty test: where
that average sets a new extreme beyond its own range, and it has set none for at least
``level_gate`` of the stream's life so far (the stream's level has been bounded: in a random
walk or a stream that keeps moving to new regimes, new levels are routine), it scores at least
``novelty_score``, once per run (a plateau at a new level whose single readings stay inside
the range of values).

State: the recent level, ``level_size(N)`` floats at ``layout.blocks(N).level`` (layout in
``level_novelty``).
"""

from __future__ import annotations

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.scoring.novelty import novelty
from tcnad.detector.scoring.policy import AlertPolicy

LEVEL_WINDOW = 24  # readings averaged for the recent level (see level_novelty)


def level_size(n_inputs: int) -> int:
    """Length of the recent-level block after the daily profile."""
    return (LEVEL_WINDOW + 2) * n_inputs + 3


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
