"""Score readings in a notebook or a script, one at a time, by stream id.

``OfflineDetector`` keeps a stream -> slot map over the worker's ``Detector``, so each
stream is scored exactly as a worker would score it (the same model, band, warm-up and
alert rules), without Kafka or Redis::

    detector = OfflineDetector()
    result = detector.score_one("sensor-1", 1_700_000_000.0, 21.4)
    result.alert, result.score, result.lower, result.upper

Readings pass the worker's wire rules (stream id, timestamp, values, the model's width)
and must come in time order per stream; a reading the worker would refuse raises
``WireError`` with the dead-letter reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from tcnad.detector.engine import Detector
from tcnad.detector.errors import DetectorError
from tcnad.detector.result import StepResult
from tcnad.detector.scoring import AlertPolicy
from tcnad.topology.wire.schemas import WireError, check_stream, parse_ts, parse_values

__all__ = ["OfflineDetector", "StreamScore"]

_CORE = ("lower", "median", "upper", "score", "tail_prob", "severity", "outside", "alert", "warm")


@dataclass(frozen=True)
class StreamScore:
    """What the detector said about one reading. ``lower``/``median``/``upper``: the band
    the reading was scored against, one entry per value (NaN before the stream's first
    forecast); ``score`` in [0, 1]; ``severity`` in band widths outside the band;
    ``alert``: the reading starts an incident; ``warm``: the stream is past warm-up.
    ``extra`` holds any further per-reading fields of the detector's ``StepResult``."""

    stream: str
    ts: float
    value: tuple[float, ...]
    lower: tuple[float, ...]
    median: tuple[float, ...]
    upper: tuple[float, ...]
    score: float
    tail_prob: float
    severity: float
    outside: bool
    alert: bool
    warm: bool
    extra: Mapping[str, Any] = field(default_factory=dict)


def _item(x: Any) -> Any:
    """One row of a result field as plain Python: a tuple for a vector, else a scalar."""
    if isinstance(x, np.ndarray):
        return tuple(v.item() for v in x)
    return x.item() if isinstance(x, np.generic) else x


def _extra(result: StepResult, i: int, n: int) -> dict[str, Any]:
    """Reading ``i``'s row of the result's fields beyond ``_CORE``: per-reading arrays and
    mappings of them, and the result's own account of ``reason`` and ``direction`` where
    it gives one."""
    extra: dict[str, Any] = {}
    for f in fields(result):
        if f.name in _CORE:
            continue
        x = getattr(result, f.name)
        if isinstance(x, Mapping):
            extra[f.name] = {k: _item(np.asarray(a)[i]) for k, a in x.items()}
        elif np.ndim(x) >= 1 and len(x) == n:
            extra[f.name] = _item(np.asarray(x)[i])
    for name, method in (("reason", "reason"), ("direction", "direction_of")):
        if callable(getattr(result, method, None)):
            extra[name] = getattr(result, method)(i)
    return extra


class OfflineDetector:
    """Scores streams by id over one ``Detector`` (``engine``; default: the checkpoint at
    ``model``, None for the shipped model, with ``capacity`` slots on ``device``, None
    picking a GPU if there is one, and the alert rules ``policy``, None for the worker's
    defaults). ``forget`` frees a stream's slot."""

    def __init__(
        self,
        model: str | None = None,
        *,
        capacity: int = 1024,
        device: str | None = None,
        policy: AlertPolicy | None = None,
        engine: Detector | None = None,
    ) -> None:
        self.engine = engine or Detector.from_checkpoint(
            model, policy=policy, device=device, capacity=capacity
        )
        self.width = self.engine.spec.n_inputs
        self._slots: dict[str, int] = {}
        self._last_ts: dict[str, float] = {}
        self._free = list(range(self.engine.capacity - 1, -1, -1))

    @property
    def streams(self) -> list[str]:
        """The streams scored so far (and not forgotten)."""
        return list(self._slots)

    def forget(self, stream: str) -> None:
        """Drop ``stream``'s state; its next reading starts it afresh."""
        slot = self._slots.pop(stream, None)
        if slot is not None:
            self._last_ts.pop(stream)
            self._free.append(slot)

    def _slot(self, stream: str) -> int:
        slot = self._slots.get(stream)
        if slot is None:
            if not self._free:
                raise DetectorError(
                    f"all {self.engine.capacity} slots hold a stream: forget() one or use a "
                    "larger capacity"
                )
            slot = self._free.pop()
            self.engine.reset(np.array([slot], dtype=np.int64))
            self._slots[stream] = slot
        return slot

    def _check(
        self, stream: Any, ts: Any, value: Any, last_ts: Mapping[str, float]
    ) -> tuple[str, float, tuple[float, ...]]:
        stream = check_stream(stream)
        t = parse_ts(ts)
        values = parse_values(value)
        if len(values) != self.width:
            raise WireError("wrong_width", f"{len(values)} values, the model takes {self.width}")
        last = last_ts.get(stream)
        if last is not None and not t > last:
            raise WireError("not_after_last", f"ts {t!r} is not after {stream}'s last {last!r}")
        return stream, t, values

    def score_one(self, stream: str, ts: Any, value: Any) -> StreamScore:
        """Score one reading of ``stream`` (``ts``: epoch seconds or ISO 8601; ``value``: a
        number, or as many numbers as the model takes)."""
        return self.score_many([(stream, ts, value)])[0]

    def score_many(self, readings: Iterable[tuple[str, Any, Any]]) -> list[StreamScore]:
        """Score ``(stream, ts, value)`` readings in order, batching readings of distinct
        streams into one step; the same results as ``score_one`` on each in turn. All are
        checked first: one bad reading raises before any is scored."""
        checked: list[tuple[str, float, tuple[float, ...]]] = []
        last = dict(self._last_ts)
        for stream, ts, value in readings:
            row = self._check(stream, ts, value, last)
            last[row[0]] = row[1]
            checked.append(row)
        out: list[StreamScore] = []
        batch: list[tuple[str, float, tuple[float, ...]]] = []
        in_batch: set[str] = set()
        for row in checked:
            if row[0] in in_batch:
                out.extend(self._step(batch))
                batch, in_batch = [], set()
            batch.append(row)
            in_batch.add(row[0])
        if batch:
            out.extend(self._step(batch))
        return out

    def _step(self, batch: list[tuple[str, float, tuple[float, ...]]]) -> list[StreamScore]:
        slots = np.array([self._slot(s) for s, _, _ in batch], dtype=np.int64)
        values = np.array([v for _, _, v in batch], dtype=np.float64)
        times = np.array([t for _, t, _ in batch], dtype=np.float64)
        result: StepResult = self.engine.step(slots, values, times)
        scores = []
        for i, (stream, t, v) in enumerate(batch):
            core = {name: _item(np.asarray(getattr(result, name))[i]) for name in _CORE}
            extra = _extra(result, i, len(batch))
            scores.append(StreamScore(stream=stream, ts=t, value=v, extra=extra, **core))
            self._last_ts[stream] = t
        return scores
