"""Level novelty: a new extreme of the recent level in a stream whose level has been bounded.

The average of the last ``LEVEL_WINDOW`` readings is held to the range-novelty test: where
that average sets a new extreme beyond its own range, and it has set none for at least
``level_gate`` of the stream's life so far (the stream's level has been bounded: in a random
walk or a stream that keeps moving to new regimes, new levels are routine), it scores at least
``novelty_score``, once per run (a plateau at a new level whose single readings stay inside
the range of values).

State: ``LEVEL``, ``[window (LEVEL_WINDOW readings, slot-major ring), seen, low_1..N,
high_1..N, last_extreme, was_beyond]``. Parameters: ``LevelPolicy``. Example: a level of 0
for a window, then a plateau at 5::

    >>> import numpy as np
    >>> p, block = LevelPolicy(), LEVEL.fresh(1)[None, :]
    >>> flags = []
    >>> for x in [0.0, 1.0] * 30 + [5.0] * 30:
    ...     novel, block = level_novelty(p, np.array([[x]]), block)
    ...     flags.append(bool(novel[0]))
    >>> flags.index(True), sum(flags)
    (61, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tcnad.detector.arrays import Arr, copy, device_of, namespace, quiet
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import NAN, Field, Slice
from tcnad.detector.scoring.novelty import novelty

LEVEL_WINDOW = 24  # readings averaged for the recent level (see level_novelty)
LEVEL = Slice(
    "level",
    1,
    (
        Field("window", count=LEVEL_WINDOW, per="input"),
        Field("seen"),
        Field("low", per="input", fresh=NAN),
        Field("high", per="input", fresh=NAN),
        Field("last_extreme", fresh=-1.0),  # -1: never
        Field("was_beyond"),
    ),
)


@dataclass(frozen=True)
class LevelPolicy:
    """level_novelty: score a new extreme of the recent level like a new extreme of a value
    (same ``range_tolerance``) where the stream is bounded; False: off.
    level_gate: least fraction of the stream's readings so far that must have passed since
    the recent level last set a new extreme for a new one to count."""

    level_novelty: bool = True
    level_gate: float = 0.5
    range_tolerance: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.level_gate <= 1.0:
            raise SpecError(f"level_gate must be in [0, 1], got {self.level_gate}")


def level_size(n_inputs: int) -> int:
    """Length of the recent-level slice."""
    return LEVEL.size(n_inputs)


def level_novelty(
    policy: LevelPolicy, obs: Arr, block: Arr, into: Arr | None = None
) -> tuple[Arr, Arr]:
    """A new extreme of the recent level in a stream whose level has been bounded.

    obs: ``(B, N)``; block: ``(B, level_size(N))`` the ``LEVEL`` slice. The level is the
    average of the last ``LEVEL_WINDOW`` readings, once there are that many; it is beyond
    its range as in ``novelty``. Returns ``(novel (B,), new block)``: novel at
    the first reading of a run of levels beyond their range, if at least ``level_gate`` of
    the readings seen before it came after the last such run's start (a stream that keeps
    reaching new levels, such as a random walk, never counts). ``into``: as for
    ``daily_pattern``, an array holding a copy of ``block`` that becomes the new block.
    """
    xp = namespace(obs, block)
    b, n = obs.shape
    w = LEVEL_WINDOW
    at = LEVEL.offsets(n)
    new = copy(block) if into is None else into
    seen = block[:, at["seen"]][:, 0]
    rows = xp.arange(b, device=device_of(block))
    slot = xp.astype(seen % w, xp.int64)
    ring = new[:, at["window"]].reshape(b, w, n)  # a view: the reading lands in place
    ring[rows, slot] = obs
    full = (seen + 1 >= w)[:, None]
    with quiet(xp):
        level = xp.where(full, xp.mean(ring, axis=1), math.nan)
    low, high = block[:, at["low"]], block[:, at["high"]]
    last = block[:, at["last_extreme"]][:, 0]
    was = block[:, at["was_beyond"]][:, 0] > 0.5
    extreme, new_low, new_high = novelty(policy.range_tolerance, level, low, high)
    since = xp.where(last >= 0, seen - last, seen)
    bounded = since >= policy.level_gate * seen
    novel = extreme & ~was & bounded & bool(policy.level_novelty)
    new[:, at["seen"]] = (seen + 1)[:, None]
    new[:, at["low"]] = new_low
    new[:, at["high"]] = new_high
    new[:, at["last_extreme"]] = xp.where(extreme, seen, last)[:, None]
    new[:, at["was_beyond"]] = extreme[:, None]
    return novel, new
