"""Stuck values: a reading repeated exactly for longer than any run of repeats seen.

A value repeated for more than ``repeat_factor`` times the longest run of repeats seen so far
scores at least ``novelty_score`` and may alert, although a flatline never leaves its band.
Above that floor it scores by the run's own evidence (``run_evidence``): a run of 3 in a
stream whose values never repeated is stronger evidence than a run of 41 in one whose runs
reached 20, so two stuck readings do not tie at the floor (a flat value is likely under its
band, so its likelihood, which grades a novel reading, says nothing here).

State: ``REPEATS``, ``[last_1..N, run, longest]``. Parameters: ``RepeatsPolicy``. Example:
after runs of at most one repeat, a value repeated a third time is stuck::

    >>> import numpy as np
    >>> p, rep = RepeatsPolicy(), np.array([[7.0, 0.0, 1.0]])
    >>> for _ in range(3):
    ...     before = rep
    ...     stuck, rep = repeats(p, np.array([[7.0]]), rep)
    ...     print(stuck.tolist(), rep.tolist())
    [False] [[7.0, 1.0, 1.0]]
    [False] [[7.0, 2.0, 1.0]]
    [True] [[7.0, 3.0, 1.0]]
    >>> run_evidence(before, rep, 1).tolist()  # 1 - (1 + 1) / (3 + 1)
    [0.5]
"""

from __future__ import annotations

from dataclasses import dataclass

from tcnad.detector.arrays import Arr, namespace
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import NAN, Field, Slice

REPEATS = Slice(
    "repeats", 1, (Field("last", per="input", fresh=NAN), Field("run"), Field("longest"))
)
LEAST_LIMIT = 2.0  # a run must be longer than this (3 readings) to be stuck


@dataclass(frozen=True)
class RepeatsPolicy:
    """repeat_factor: a value repeated exactly for more than this many times the longest run
    of repeats seen so far (and at least 3 readings) is stuck (0: off).
    repeats_weight: the weight of a stuck run's own evidence (``run_evidence``) in grading
    its score above the floor; 0: graded by its likelihood only, as a novel reading is.
    """

    repeat_factor: float = 2.0
    repeats_weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.repeat_factor >= 0.0:
            raise SpecError("repeat_factor must be >= 0")
        if not 0.0 <= self.repeats_weight <= 1.0:
            raise SpecError("repeats_weight must be in [0, 1]")


def repeats(policy: RepeatsPolicy, obs: Arr, rep: Arr) -> tuple[Arr, Arr]:
    """A value repeated for longer than ``repeat_factor`` times the longest run seen.

    obs: ``(B, N)``; rep: ``(B, N + 2)`` the ``REPEATS`` slice. Returns ``(stuck (B,), new
    rep)``; a run is stuck once, at the reading that crosses the limit.
    """
    xp = namespace(obs, rep)
    n = obs.shape[1]
    at = REPEATS.offsets(n)
    last, run, longest = rep[:, at["last"]], rep[:, at["run"]][:, 0], rep[:, at["longest"]][:, 0]
    same = xp.all(obs == last, axis=1)
    new_run = xp.where(same, run + 1.0, 0.0)
    new_longest = xp.where(same, longest, xp.maximum(longest, run))
    limit = xp.maximum(policy.repeat_factor * longest, LEAST_LIMIT)
    crossing = (new_run > limit) & (run <= limit)  # once per run
    stuck = same & crossing & (policy.repeat_factor > 0)
    return stuck, xp.concat([obs, new_run[:, None], new_longest[:, None]], axis=1)


def run_evidence(before: Arr, after: Arr, n: int) -> Arr:
    """How strongly each stream's current run of repeats says "stuck": ``1 - (L + 1) / (r +
    1)``, ``r`` the run (``after``) and ``L`` the longest run before it (``before``; both
    ``REPEATS`` slices of ``n`` values). Near 1 for a long run where values never repeated;
    about 1/2 where a stream's runs were already long. ``(B,)`` in ``[0, 1)``."""
    xp = namespace(before, after)
    at = REPEATS.offsets(n)
    run = after[:, at["run"]][:, 0]
    longest = before[:, at["longest"]][:, 0]
    return xp.clip(1.0 - (longest + 1.0) / (run + 1.0), 0.0, 1.0)
