"""Run the detector over stored series, causally, through the worker's own code path.

Each series gets one pool slot and every reading goes through ``Detector.step`` exactly as a
worker would apply it: score against the pending band, normalise, step the TCN, forecast
the next band. Series are batched together (one slot each, one reading per series per
call), so a corpus of many files costs as many ``step`` calls as its longest file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tcnad.detector.arrays import B8, F64, I64
from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.series import Series, epoch_seconds


class StepOutput(Protocol):
    """What ``Detector.step`` returns for ``B`` streams (see docs/architecture.md).

    lower, median, upper: ``(B, n_inputs)``; score (in [0, 1]), tail_prob, severity,
    alert, warm: ``(B,)``.
    """

    @property
    def lower(self) -> F64: ...
    @property
    def median(self) -> F64: ...
    @property
    def upper(self) -> F64: ...
    @property
    def score(self) -> F64: ...
    @property
    def tail_prob(self) -> F64: ...
    @property
    def severity(self) -> F64: ...
    @property
    def alert(self) -> B8: ...
    @property
    def warm(self) -> B8: ...


class Engine(Protocol):
    """The part of ``tcnad.detector.engine.Detector`` that offline scoring uses."""

    def reset(self, slots: I64) -> None: ...

    def step(self, slots: I64, values: F64, times: F64 | None = None) -> StepOutput: ...


@dataclass(frozen=True)
class Scored:
    """One series and what the detector said about each of its readings.

    lower, median, upper: ``(n,)`` the band each reading was scored against (NaN before the
    first forecast); score, tail_prob, severity: ``(n,)``; alert, warm: ``(n,)`` bool.
    """

    series: Series
    lower: F64
    median: F64
    upper: F64
    score: F64
    tail_prob: F64
    severity: F64
    alert: B8
    warm: B8

    @property
    def outside(self) -> B8:
        """``(n,)`` readings outside their band (False where there was no band yet)."""
        v = self.series.values
        with np.errstate(invalid="ignore"):
            return (v < self.lower) | (v > self.upper)


FIELDS = ("lower", "median", "upper", "score", "tail_prob", "severity", "alert", "warm")


def _run_group(
    engine: Engine, group: Sequence[Series], on_step: Callable[[int], None] | None
) -> list[Scored]:
    """Score up to ``capacity`` series at once; series ``k`` of the group uses slot ``k``."""
    lengths = np.array([len(s) for s in group], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")  # longest first: the active set is a prefix
    n, horizon = len(group), int(lengths.max(initial=0))
    padded, stamps = np.zeros((n, horizon)), np.full((n, horizon), np.nan)
    for k, s in enumerate(group):
        padded[k, : lengths[k]] = s.values
        stamps[k, : lengths[k]] = epoch_seconds(s.timestamps)
    out = {
        f: np.zeros((n, horizon), dtype=bool if f in ("alert", "warm") else np.float64)
        for f in FIELDS
    }
    engine.reset(np.arange(n, dtype=np.int64))
    n_active = (lengths[None, :] > np.arange(horizon)[:, None]).sum(axis=1)
    for t in range(horizon):
        idx = order[: n_active[t]]
        res = engine.step(idx, padded[idx, t : t + 1], stamps[idx, t])
        for f in FIELDS:
            col = np.asarray(getattr(res, f))
            out[f][idx, t] = col[:, 0] if col.ndim == 2 else col
        if on_step is not None:
            on_step(int(n_active[t]))
    return [
        Scored(series=s, **{f: out[f][k, : lengths[k]].copy() for f in FIELDS})
        for k, s in enumerate(group)
    ]


def score_series(
    engine: Engine,
    series: Sequence[Series],
    capacity: int,
    on_step: Callable[[int], None] | None = None,
) -> list[Scored]:
    """Score every series causally (a reading's score depends on its past only).

    capacity: slots the engine's pool holds; series are processed in groups of that size.
    on_step: called after each ``step`` call with the number of readings it applied.
    """
    if capacity < 1:
        raise DetectorError(f"capacity must be at least 1, got {capacity}")
    scored: list[Scored] = []
    for start in range(0, len(series), capacity):
        scored.extend(_run_group(engine, series[start : start + capacity], on_step))
    return scored
