"""``StepResult``: what the detector says about each reading of one step.

The scoring combiner (``scoring.score_batch``) builds it and ``Detector.step`` returns it as
it is; the worker turns its rows into alert and score messages, and offline scoring
(``lab.offline.Scored``) keeps one per series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import array_api_compat
import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import B8, F64, Arr, device_of, namespace

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

    def on_host(self) -> StepResult:
        """This result with numpy arrays: itself where they are numpy already; the arrays of
        a result scored on a device (torch tensors) are copied to the host in one transfer.

        >>> import torch
        >>> band = [torch.zeros((1, 1), dtype=torch.float64)] * 3
        >>> r = StepResult(*band, *[torch.zeros(1, dtype=torch.float64)] * 3,
        ...                *[torch.ones(1, dtype=torch.bool)] * 3)
        >>> h = r.on_host()
        >>> type(h.score).__name__, h.alert.dtype.name, h.direction.dtype.name
        ('ndarray', 'bool', 'int8')
        """
        if isinstance(self.score, np.ndarray):
            return self
        xp = namespace(self.score)
        b = self.score.shape[0]
        dev = device_of(self.score)
        names = sorted(self.parts)
        cols = [self.lower, self.median, self.upper, self.opening]
        if self.direction.shape[0] != b:
            direction = xp.zeros(b, dtype=xp.int8, device=dev)
        else:
            direction = self.direction
        one = [self.score, self.tail_prob, self.severity, *(self.parts[k] for k in names)]
        flags = [self.outside, self.alert, self.warm, self.resolved, direction]
        if self.opening.shape[0] != b:
            cols[3] = xp.full((b, 4), math.nan, dtype=xp.float64, device=dev)
        if self.resolved.shape[0] != b:
            flags[3] = xp.zeros(b, dtype=xp.bool, device=dev)
        packed = xp.concat(
            [*cols, *(xp.astype(c, xp.float64)[:, None] for c in (*one, *flags))], axis=1
        )
        host = np.asarray(array_api_compat.to_device(packed, "cpu"))
        widths = [c.shape[1] for c in cols] + [1] * (len(one) + len(flags))
        edges = np.cumsum([0, *widths])
        pieces = [host[:, edges[i] : edges[i + 1]] for i in range(len(widths))]
        lower, median, upper, opening = pieces[:4]
        singles = [p[:, 0] for p in pieces[4:]]
        score, tail, sev = singles[:3]
        parts = dict(zip(names, singles[3 : 3 + len(names)], strict=True))
        outside, alert, warm, resolved, code = singles[3 + len(names) :]
        return StepResult(
            lower=lower.copy(),
            median=median.copy(),
            upper=upper.copy(),
            score=score.copy(),
            tail_prob=tail.copy(),
            severity=sev.copy(),
            outside=outside > 0.5,
            alert=alert > 0.5,
            warm=warm > 0.5,
            parts={k: v.copy() for k, v in parts.items()},
            direction=code.astype(np.int8),
            resolved=resolved > 0.5,
            opening=opening.copy(),
        )

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


def directions(obs: Arr, median: Arr, p_each: Arr, stuck: Arr) -> Arr:
    """``StepResult.direction`` from obs and median ``(B, N)``, the values' tail
    probabilities ``(B, N)`` and stuck ``(B,)``: for each reading, the value least probable
    under its band is above or below its median (above where equal or without a band)."""
    xp = namespace(obs, median)
    rows = xp.arange(obs.shape[0], device=device_of(obs))
    worst = xp.argmin(xp.where(xp.isfinite(p_each), p_each, math.inf), axis=1)
    below = obs[rows, worst] < median[rows, worst]
    code = ABOVE + (BELOW - ABOVE) * xp.astype(below, xp.int8)
    return xp.where(stuck, FLAT, code)
