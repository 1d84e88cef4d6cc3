"""The demo's alerts matched with its ground truth: anomalies alerted, missed, false alerts.

``truth`` is the document ``tcnad produce --truth`` writes (``SyntheticFleet.truth_document``);
``alerts`` are ``(stream, reading timestamp)`` pairs. An anomaly is *alerted* when an alert
of its stream falls from its first reading up to ``TOLERANCE_READINGS`` readings after its
last (a level shift lasts: up to its window's end, ``SHIFT_WINDOW`` readings after its onset); two
alerts within one anomaly still make one alerted anomaly. An anomaly without such an alert
is *missed* once that window has closed within the readings produced, and *open* while it
has not (the run stopped before the detector could be judged on it). An alert that
matches no anomaly is a *false alert*; every alert on a clean stream is one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcnad.topology.devstack.fleet import SHIFT_WINDOW

__all__ = [
    "RULE",
    "TOLERANCE_READINGS",
    "Scorecard",
    "Tally",
    "read_alerts",
    "score_alerts",
]

TOLERANCE_READINGS = 10  # readings after an anomaly's last in which an alert still counts
RULE = (
    "alerted: an alert of the stream from the anomaly's first reading to "
    f"{TOLERANCE_READINGS} readings after its last ({SHIFT_WINDOW} after a level shift's "
    "onset); open: that window had not closed when the producer stopped"
)


@dataclass
class Tally:
    """Anomalies of one kind (or of all kinds): injected = alerted + missed + open."""

    alerted: int = 0
    missed: int = 0
    open: int = 0

    @property
    def injected(self) -> int:
        return self.alerted + self.missed + self.open

    def add(self, other: Tally) -> None:
        self.alerted += other.alerted
        self.missed += other.missed
        self.open += other.open


@dataclass
class Scorecard:
    """What a run's alerts did against its truth, in total and per anomaly kind."""

    kinds: dict[str, Tally] = field(default_factory=dict)
    alerts: int = 0
    false_alerts: list[tuple[str, float]] = field(default_factory=list)

    @property
    def total(self) -> Tally:
        out = Tally()
        for tally in self.kinds.values():
            out.add(tally)
        return out

    def lines(self) -> list[str]:
        """The summary: one line of totals, then one per anomaly kind."""
        t = self.total
        head = (
            f"summary: {t.injected} anomalies injected: {t.alerted} alerted, {t.missed} missed, "
            f"{t.open} open at the stop; {len(self.false_alerts)} false alerts of "
            f"{self.alerts} alerts"
        )
        width = max((len(k) for k in self.kinds), default=0)
        rows = [
            f"  {kind:<{width}}  {k.injected:>4} injected  {k.alerted:>4} alerted  "
            f"{k.missed:>4} missed  {k.open:>4} open"
            for kind, k in sorted(self.kinds.items())
        ]
        return [head, *rows, f"  ({RULE})"]


def _window(anomaly: dict[str, Any], interval: float, tolerance_readings: int) -> float:
    """The last timestamp at which an alert of the anomaly's stream counts for it."""
    after_end = float(anomaly["end_ts"]) + tolerance_readings * interval
    return max(float(anomaly["window_end_ts"]), after_end)


def score_alerts(
    truth: dict[str, Any],
    alerts: Iterable[tuple[str, float]],
    tolerance_readings: int = TOLERANCE_READINGS,
) -> Scorecard:
    """Match ``(stream, ts)`` alerts with the anomalies of a truth document."""
    interval = float(truth["interval"])
    last_ts = truth["start_ts"] + (truth["steps"] - 1) * interval  # the last reading produced
    windows = {
        s["stream"]: [
            (a["start_ts"], _window(a, interval, tolerance_readings), a["kind"])
            for a in s["anomalies"]
        ]
        for s in truth["streams"]
    }
    card = Scorecard()
    hit: set[tuple[str, int]] = set()
    for stream, ts in alerts:
        card.alerts += 1
        matched = [j for j, (lo, hi, _) in enumerate(windows.get(stream, [])) if lo <= ts <= hi]
        hit.update((stream, j) for j in matched)
        if not matched:
            card.false_alerts.append((stream, ts))
    for stream, anomalies in windows.items():
        for j, (_lo, hi, kind) in enumerate(anomalies):
            tally = card.kinds.setdefault(kind, Tally())
            if (stream, j) in hit:
                tally.alerted += 1
            elif hi <= last_ts:
                tally.missed += 1
            else:
                tally.open += 1
    return card


def read_alerts(path: Path) -> list[tuple[str, float]]:
    """``(stream, ts)`` of the alerts in a JSON-lines file (``tcnad alerts --save``), each
    alert id once (a worker restart may send an alert again); resolved records (an
    incident's end, which carries its alert's id) and unreadable lines are skipped."""
    seen: set[str] = set()
    out: list[tuple[str, float]] = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            doc = json.loads(line)
            if doc.get("kind", "alert") != "alert":
                continue
            key, stream, ts = str(doc["id"]), str(doc["stream"]), float(doc["ts"])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if key not in seen:
            seen.add(key)
            out.append((stream, ts))
    return out
