"""``StepResult``: what the detector says about each reading of one step.

The scoring combiner (``scoring.score_batch``) builds it and ``Detector.step`` returns it as
it is; the worker turns its rows into alert and score messages, and offline scoring
(``lab.offline.Scored``) keeps one per series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import B8, F64

I8 = npt.NDArray[np.int8]

ABOVE, BELOW, FLAT = 1, -1, 0  # codes of ``StepResult.direction``
DIRECTION_NAMES = {ABOVE: "above", BELOW: "below", FLAT: "flat"}


@dataclass(frozen=True)
class StepResult:
    """Scores of B readings, one row per stream stepped, each reading having N values.

    lower, median, upper: ``(B, N)`` the calibrated band the observation was scored against,
        on the readings' own scale (NaN where no band was pending: before a stream's first
        forecast).
    score: ``(B,)`` anomaly score in [0, 1] (0 before warm-up).
    tail_prob: ``(B,)`` two-sided tail probability of the reading under the band (1 without
        a band).
    severity: ``(B,)`` distance outside the band, in band widths (0 inside it).
    outside: ``(B,)`` bool, some value lay outside its band.
    alert: ``(B,)`` bool, the reading starts an incident: raise an alert.
    warm: ``(B,)`` bool, the stream is past warm-up (its scores and alerts count).
    parts: per part of the score (``band``, ``novelty``, ``level``, ``repeats``,
        ``daily``), ``(B,)`` its score where it fired (warm and at least ``alert_score``),
        0 elsewhere; the score is the largest of them before echo suppression.
    direction: ``(B,)`` int8, ``ABOVE`` or ``BELOW`` the band's median (the value least
        probable under its band, for several values), ``FLAT`` for a stuck value.
    resolved: ``(B,)`` bool, the reading ends an incident whose alert was raised (by this
        stream, in the state's history): resolve that alert.
    opening: ``(B, 4)`` where ``resolved``, the resolved alert's reading's partition and
        offset (NaN where the caller did not give them), the readings scored from it to
        this one, both included, and the alert's severity; NaN elsewhere.
    """

    lower: F64
    median: F64
    upper: F64
    score: F64
    tail_prob: F64
    severity: F64
    outside: B8
    alert: B8
    warm: B8
    parts: Mapping[str, F64] = field(default_factory=dict)
    direction: I8 = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    resolved: B8 = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    opening: F64 = field(default_factory=lambda: np.zeros((0, 4)))

    def reason(self, i: int) -> dict[str, float]:
        """The parts that fired at reading ``i``, strongest first, with their scores.

        >>> r = StepResult(*[np.zeros(1)] * 9, parts={"band": np.array([0.9]),
        ...                "novelty": np.array([0.96]), "daily": np.array([0.0])})
        >>> r.reason(0)
        {'novelty': 0.96, 'band': 0.9}
        """
        got = {k: float(v[i]) for k, v in self.parts.items() if v[i] > 0.0}
        return dict(sorted(got.items(), key=lambda kv: -kv[1]))

    def direction_of(self, i: int) -> str | None:
        """``above``, ``below`` or ``flat`` for reading ``i`` (None if not known)."""
        if i >= len(self.direction):
            return None
        return DIRECTION_NAMES[int(self.direction[i])]


def directions(obs: F64, median: F64, p_each: F64, stuck: B8) -> I8:
    """``StepResult.direction`` from obs and median ``(B, N)``, the values' tail
    probabilities ``(B, N)`` and stuck ``(B,)``: for each reading, the value least probable
    under its band is above or below its median (above where equal or without a band)."""
    rows = np.arange(obs.shape[0])
    worst = np.argmin(np.where(np.isfinite(p_each), p_each, np.inf), axis=1)
    below = obs[rows, worst] < median[rows, worst]
    out: I8 = np.where(stuck, FLAT, np.where(below, BELOW, ABOVE)).astype(np.int8)
    return out
