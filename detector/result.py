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
        b, dev = self.score.shape[0], device_of(self.score)

        def given(x: Arr, fill: float, dtype: object, shape: tuple[int, ...]) -> Arr:
            """``x``, or ``fill`` where the result was built without it (its default)."""
            return x if x.shape[0] == b else xp.full(shape, fill, dtype=dtype, device=dev)

        columns = {
            "lower": self.lower,
            "median": self.median,
            "upper": self.upper,
            "opening": given(self.opening, math.nan, xp.float64, (b, 4)),
            "score": self.score,
            "tail_prob": self.tail_prob,
            "severity": self.severity,
            **{f"parts.{k}": v for k, v in self.parts.items()},
            "outside": self.outside,
            "alert": self.alert,
            "warm": self.warm,
            "resolved": given(self.resolved, False, xp.bool, (b,)),
            "direction": given(self.direction, 0, xp.int8, (b,)),
        }
        cols = [xp.astype(c if c.ndim == 2 else c[:, None], xp.float64) for c in columns.values()]
        host = np.asarray(array_api_compat.to_device(xp.concat(cols, axis=1), "cpu"))
        edges = np.cumsum([0, *(c.shape[1] for c in cols)])
        # Each field a copy of its own, not a view into the one transfer.
        got = {
            k: host[:, lo:hi].copy()
            for k, lo, hi in zip(columns, edges[:-1], edges[1:], strict=True)
        }
        one = {k: v[:, 0] for k, v in got.items() if v.shape[1] == 1}
        return StepResult(
            lower=got["lower"],
            median=got["median"],
            upper=got["upper"],
            score=one["score"],
            tail_prob=one["tail_prob"],
            severity=one["severity"],
            outside=one["outside"] > 0.5,
            alert=one["alert"] > 0.5,
            warm=one["warm"] > 0.5,
            parts={k: one[f"parts.{k}"] for k in self.parts},
            direction=one["direction"].astype(np.int8),
            resolved=one["resolved"] > 0.5,
            opening=got["opening"],
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
