"""Run the detector over stored series, causally, through the worker's own code path.

Each series gets one pool slot and every reading goes through ``Detector.step`` exactly as a
worker would apply it: score against the pending band, normalise, step the TCN, forecast
the next band. Series are batched together (one slot each, one reading per series per
call), so a corpus of many files costs as many ``step`` calls as its longest file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.series import Series, epoch_seconds
from tcnad.detector.result import StepResult

if TYPE_CHECKING:  # the engine imports torch; scoring is handed one
    from tcnad.detector.engine import StreamDetector


@dataclass(frozen=True)
class Scored(StepResult):
    """One series and what the detector said about each of its readings: the fields of a
    ``StepResult`` with one row per reading of the series, each ``(n,)`` (the series has
    one value per reading).

    outside compares each value with the band as reported (on the readings' own scale, as
    ``tcnad score`` writes it and ``tcnad plot`` draws it), so the band-miss rate of
    ``tcnad nab`` counts what those show; the scorer's own flag compares a count on the
    square-root scale and can differ from it only by rounding at the band's edge.
    """

    series: Series = field(kw_only=True)


# What is read from each step's result; outside is computed from the values afterwards (the
# parts that fired and the direction are left out: the alerts carry them; so are the
# resolutions of alerts, which only the worker publishes).
_LEFT_OUT = ("outside", "parts", "direction", "resolved", "opening")
FIELDS = tuple(f.name for f in fields(StepResult) if f.name not in _LEFT_OUT)
_FLAGS = ("alert", "warm")


def _outside(values: F64, lower: F64, upper: F64) -> B8:
    """``(n,)`` readings outside their band (False where there was no band yet)."""
    with np.errstate(invalid="ignore"):
        out: B8 = (values < lower) | (values > upper)
    return out


def _run_group(
    engine: StreamDetector, group: Sequence[Series], on_step: Callable[[int], None] | None
) -> list[Scored]:
    """Score up to ``capacity`` series at once; series ``k`` of the group uses slot ``k``."""
    lengths = np.array([len(s) for s in group], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")  # longest first: the active set is a prefix
    n, horizon = len(group), int(lengths.max(initial=0))
    padded, stamps = np.zeros((n, horizon)), np.full((n, horizon), np.nan)
    for k, s in enumerate(group):
        padded[k, : lengths[k]] = s.values
        stamps[k, : lengths[k]] = epoch_seconds(s.timestamps)
    out = {f: np.zeros((n, horizon), dtype=bool if f in _FLAGS else np.float64) for f in FIELDS}
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
    scored = []
    for k, s in enumerate(group):
        got: dict[str, Any] = {f: out[f][k, : lengths[k]].copy() for f in FIELDS}
        outside = _outside(s.values, got["lower"], got["upper"])
        scored.append(Scored(series=s, outside=outside, **got))
    return scored


def score_series(
    engine: StreamDetector,
    series: Sequence[Series],
    capacity: int,
    on_step: Callable[[int], None] | None = None,
) -> list[Scored]:
    """Score every series causally (a reading's score depends on its past only).

    engine: only its ``reset`` and ``step`` are used.
    capacity: slots the engine's pool holds; series are processed in groups of that size.
    on_step: called after each ``step`` call with the number of readings it applied.
    """
    if capacity < 1:
        raise DetectorError(f"capacity must be at least 1, got {capacity}")
    scored: list[Scored] = []
    for start in range(0, len(series), capacity):
        scored.extend(_run_group(engine, series[start : start + capacity], on_step))
    return scored
