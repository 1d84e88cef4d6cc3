"""Range novelty: a reading beyond the range of values seen so far.

A reading beyond that range by more than ``range_tolerance`` of it scores at least
``novelty_score``, once per run of such readings (a value that climbs to a new extreme over
several readings is one excursion). Above that floor the score rises with the reading's
own likelihood score (``graded``), so that novel readings are ranked by how improbable
they are and two of different strength do not tie. A new extreme that stays inside the
band raises the score but alerts nobody by itself.

State: ``RANGE`` (``[low_1..N, high_1..N]``) and ``NOVEL`` (whether the last reading lay
beyond the range). Parameters: ``NoveltyPolicy``. Example: the range is [0, 10]; 10.2 is
inside the 5 % tolerance, 30 is beyond it, by twice the range::

    >>> import numpy as np
    >>> low, high = np.array([[0.0], [0.0]]), np.array([[10.0], [10.0]])
    >>> novel, low2, high2 = novelty(0.05, np.array([[10.2], [30.0]]), low, high)
    >>> novel.tolist(), high2.ravel().tolist()
    ([False, True], [10.2, 30.0])
    >>> graded(NoveltyPolicy(), np.array([0.0, 0.5, 1.0])).tolist()
    [0.6, 0.8, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

from tcnad.detector.arrays import Arr, fmax, fmin, namespace, quiet
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import NAN, Field, Slice

RANGE = Slice(
    "range", 1, (Field("low", per="input", fresh=NAN), Field("high", per="input", fresh=NAN))
)
NOVEL = Slice("novel", 1, (Field("beyond"),))


@dataclass(frozen=True)
class NoveltyPolicy:
    """When a value beyond the range seen so far counts, and what it scores.

    range_tolerance: a value beyond the range seen so far by more than this fraction of
        the range is novel (<= 0: off).
    novelty_score: the least score of a novel (or stuck, or new-level) reading; above it,
        such a reading scores by its likelihood score (``graded``).
    novelty_after: readings a stream must have been scored before range novelty counts.
    novelty_once: a run of consecutive novel readings scores ``novelty_score`` only at its
        first reading; False: every one does.
    """

    range_tolerance: float = 0.05
    novelty_score: float = 0.6
    novelty_after: int = 0
    novelty_once: bool = True

    def __post_init__(self) -> None:
        if self.novelty_after < 0:
            raise SpecError("novelty_after must be >= 0")
        if not 0.0 <= self.novelty_score <= 1.0:
            raise SpecError("novelty_score must be in [0, 1]")


def novelty(tolerance: float, obs: Arr, low: Arr, high: Arr) -> tuple[Arr, Arr, Arr]:
    """Readings beyond the range seen so far. obs, low, high: ``(B, N)`` (NaN: nothing seen).

    Returns ``(novel (B,), new_low, new_high)``.
    """
    xp = namespace(obs, low)
    span = high - low
    with quiet(xp):
        beyond = (obs > high + tolerance * span) | (obs < low - tolerance * span)
        novel = xp.any(beyond & (span > 0), axis=1) & (tolerance > 0)
    return novel, fmin(low, obs), fmax(high, obs)


def graded(policy: NoveltyPolicy, lik: Arr) -> Arr:
    """The score of a novel, stuck or new-level reading: ``novelty_score``, graded up to 1
    by its likelihood score ``lik`` (``(B,)`` in [0, 1]), so that such readings are ranked by
    how improbable they are rather than tied at the floor. ``(B,)``."""
    floor = policy.novelty_score
    return floor + (1.0 - floor) * lik
