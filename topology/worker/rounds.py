"""Stepping a batch in rounds and turning step results into alert, resolved and score
messages.

A batch may hold several readings of one stream, but ``Detector.step`` takes each slot at
most once per call: round ``r`` steps the ``r``-th reading of every stream that has one.
Streams are sorted by their reading count, longest first, so round ``r`` is a prefix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from tcnad.detector.engine import StreamDetector
from tcnad.detector.result import StepResult
from tcnad.topology.wire.decode import Decoded, RawRecord
from tcnad.topology.wire.schemas import Alert, Resolved, ScoreRecord, alert_id
from tcnad.topology.worker.batch import OutMessage
from tcnad.topology.worker.hotcache import HotEntry

# The fields read from every reading of a batch, as C getters (named tuples' positions).
reading_ts = itemgetter(Decoded._fields.index("ts"))
_PARTITION = itemgetter(RawRecord._fields.index("partition"))
_OFFSET = itemgetter(RawRecord._fields.index("offset"))


@dataclass
class StepPlan:
    """The readings to apply, per stream, in stream order (offsets and timestamps rising)."""

    streams: list[str] = field(default_factory=list)
    entries: list[HotEntry] = field(default_factory=list)
    items: list[list[Decoded]] = field(default_factory=list)
    n_readings: int = 0

    def add(self, stream: str, entry: HotEntry, items: list[Decoded]) -> None:
        self.streams.append(stream)
        self.entries.append(entry)
        self.items.append(items)
        self.n_readings += len(items)


@dataclass
class RoundResults:
    """``order``: plan indices, longest stream first; ``rounds[r]`` has ``n_r`` rows for
    ``order[:n_r]``."""

    order: npt.NDArray[np.int64]
    rounds: list[Any]


def step_rounds(detector: StreamDetector, plan: StepPlan) -> RoundResults:
    """Step every planned reading; one ``Detector.step`` call per round, with each reading's
    partition and offset (what an alert's id is made of, kept until the alert resolves)."""
    lengths = np.fromiter((len(x) for x in plan.items), dtype=np.int64, count=len(plan.items))
    order = np.argsort(-lengths, kind="stable")
    if not len(order):
        return RoundResults(order, [])
    sorted_len = lengths[order]
    slots = np.fromiter((plan.entries[i].slot for i in order), dtype=np.int64, count=len(order))
    # Every reading's fields in one pass, stream after stream in ``order``; round r takes
    # the r-th reading of each of the first n streams: rows starts[:n] + r.
    flat = [d for i in order for d in plan.items[i]]
    total = len(flat)
    starts = np.cumsum(sorted_len) - sorted_len
    width = int(detector.spec.n_inputs)
    # (each Decoded holds exactly ``width`` values: decode_batch's rule)
    values = np.fromiter(chain.from_iterable([d.values for d in flat]), np.float64, total * width)
    values = values.reshape(total, width)
    times = np.fromiter(map(reading_ts, flat), np.float64, count=total)
    records = [d.record for d in flat]
    where = np.empty((total, 2), dtype=np.float64)
    where[:, 0] = np.fromiter(map(_PARTITION, records), np.float64, count=total)
    where[:, 1] = np.fromiter(map(_OFFSET, records), np.float64, count=total)
    rounds = []
    counts = np.searchsorted(-sorted_len, -np.arange(int(sorted_len[0])), side="left")
    for r, n in enumerate(counts.tolist()):
        rows = starts[:n] + r
        rounds.append(detector.step(slots[:n], values[rows], times[rows], where[rows]))
    return RoundResults(order, rounds)


def _rows(arr: npt.NDArray[np.float64], i: int) -> list[float]:
    return [float(x) for x in np.atleast_1d(arr[i])]


def _why(res: Any, i: int) -> dict[str, Any]:
    """``reason`` and ``direction`` of row ``i`` of a step result (none from a result that
    does not say them)."""
    if not isinstance(res, StepResult):
        return {}
    reasons = {k: round(v, 4) for k, v in res.reason(i).items()}
    return {"reason": reasons, "direction": res.direction_of(i)}


def _resolved(res: Any, i: int, d: Decoded, model_id: str) -> Resolved | None:
    """The resolved record of row ``i`` where its step result resolves an alert whose
    reading it knows (None elsewhere, and from a result that does not say)."""
    flags = getattr(res, "resolved", None)
    if flags is None or i >= len(flags) or not flags[i]:
        return None
    partition, offset, readings, severity = (float(x) for x in res.opening[i])
    if not (math.isfinite(partition) and math.isfinite(offset)):
        return None  # an alert raised without its position: nothing to name
    rec = d.record
    return Resolved(
        id=alert_id(d.stream, int(partition), int(offset)),
        stream=d.stream,
        ts=d.ts,
        readings=int(readings),
        severity=severity,
        model_id=model_id,
        partition=rec.partition,
        offset=rec.offset,
    )


def build_alerts(
    plan: StepPlan, results: RoundResults, topic: str, model_id: str
) -> list[OutMessage]:
    """One alert message per reading whose step result says ``alert`` and one resolved
    message per reading that resolves an alert (before the alert where a reading does both),
    in each stream's reading order; key = stream id."""
    out: list[OutMessage] = []
    for r, res in enumerate(results.rounds):
        alerts = np.asarray(res.alert)
        flags = np.asarray(getattr(res, "resolved", np.zeros(0, dtype=np.bool_)))
        rows = alerts.copy()
        if flags.shape == alerts.shape:
            rows |= flags
        for i in (int(x) for x in np.flatnonzero(rows)):
            d = plan.items[int(results.order[i])][r]
            rec = d.record
            done = _resolved(res, i, d, model_id)
            if done is not None:
                out.append(OutMessage(topic, d.stream.encode(), done.to_bytes()))
            if not alerts[i]:
                continue
            alert = Alert(
                id=alert_id(d.stream, rec.partition, rec.offset),
                stream=d.stream,
                ts=d.ts,
                value=list(d.values),
                lower=_rows(res.lower, i),
                median=_rows(res.median, i),
                upper=_rows(res.upper, i),
                severity=float(res.severity[i]),
                tail_prob=float(res.tail_prob[i]),
                score=float(res.score[i]),
                model_id=model_id,
                partition=rec.partition,
                offset=rec.offset,
                **_why(res, i),
            )
            out.append(OutMessage(topic, d.stream.encode(), alert.model_dump_json().encode()))
    return out


def build_scores(plan: StepPlan, results: RoundResults, topic: str) -> list[OutMessage]:
    """One score record per applied reading (the optional dashboard/benchmark topic)."""
    out: list[OutMessage] = []
    for r, res in enumerate(results.rounds):
        alerts = np.asarray(res.alert)
        for i in range(len(alerts)):
            d = plan.items[int(results.order[i])][r]
            rec = d.record
            score = ScoreRecord(
                stream=d.stream,
                ts=d.ts,
                value=list(d.values),
                lower=_rows(res.lower, i),
                median=_rows(res.median, i),
                upper=_rows(res.upper, i),
                score=float(res.score[i]),
                alert=bool(alerts[i]),
                partition=rec.partition,
                offset=rec.offset,
                **_why(res, i),
            )
            out.append(OutMessage(topic, d.stream.encode(), score.model_dump_json().encode()))
    return out


def group_by_stream(decoded: Sequence[Decoded]) -> dict[str, list[Decoded]]:
    """Readings per stream in arrival order (a stream lives on one partition)."""
    groups: dict[str, list[Decoded]] = {}
    for d in decoded:
        groups.setdefault(d.stream, []).append(d)
    return groups
