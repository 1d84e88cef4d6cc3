"""``StepResult``: what the detector says about each reading of one step.

The scoring combiner (``scoring.score_batch``) builds it and ``Detector.step`` returns it as
it is; the worker turns its rows into alert and score messages, and offline scoring
(``lab.offline.Scored``) keeps one per series.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcnad.detector.arrays import B8, F64


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
