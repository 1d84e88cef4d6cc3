"""What the dashboard shows, in memory and bounded: each stream's latest readings with their
band, its alerts and alert count, and the latest alerts of every stream.

Every change gets the next sequence number, so a page that has seen everything up to ``seq``
asks for what changed since (``summaries``, ``alerts``, ``stream``) and a slow page gets one
coalesced update instead of a growing queue. Numbers that are not finite (a band before a
stream's first forecast) are ``None`` here, as ``null`` in the JSON the page reads.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tcnad.topology.wire.schemas import Alert, ScoreRecord

__all__ = ["ALERT_EXTRAS", "Board", "Limits"]

# Alert fields shown when a record carries them, whether or not this version's Alert has them.
ALERT_EXTRAS = ("reason", "direction")


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _nums(xs: Iterable[float]) -> list[float | None]:
    return [_num(float(x)) for x in xs]


def _extra(value: Any) -> Any:
    """A ``reason``/``direction`` value as the page shows it: text, a number, or a list or
    object of them (``reason`` maps the parts of the score that fired to their scores)."""
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return [_extra(v) for v in value[:64]]
    if isinstance(value, Mapping):
        return {str(k): _extra(v) for k, v in list(value.items())[:64]}
    return None if value is None else str(value)


@dataclass(frozen=True)
class Limits:
    """How much the board keeps: points per stream, alerts per stream, latest alerts over
    all streams, and streams (the least recently updated one goes when a new one comes)."""

    window: int = 600
    stream_alerts: int = 50
    alerts: int = 200
    streams: int = 200

    def __post_init__(self) -> None:
        if min(self.window, self.stream_alerts, self.alerts, self.streams) < 1:
            raise ValueError("every limit of the dashboard must be at least 1")


@dataclass
class _Stream:
    name: str
    window: int
    stream_alerts: int
    seq: int = 0
    points: deque[dict[str, Any]] = field(default_factory=deque)
    alerts: deque[dict[str, Any]] = field(default_factory=deque)
    alert_count: int = 0
    last_ts: float = -math.inf

    def __post_init__(self) -> None:
        self.points = deque(maxlen=self.window)
        self.alerts = deque(maxlen=self.stream_alerts)

    def summary(self) -> dict[str, Any]:
        last = self.points[-1] if self.points else None
        latest_alert = self.alerts[-1] if self.alerts else None
        return {
            "stream": self.name,
            "seq": self.seq,
            "ts": last["ts"] if last else None,
            "value": last["value"] if last else None,
            "lower": last["lower"] if last else None,
            "upper": last["upper"] if last else None,
            "score": last["score"] if last else None,
            "outside": last["outside"] if last else None,
            "alerts": self.alert_count,
            "last_alert_ts": latest_alert["ts"] if latest_alert else None,
        }


def _outside(
    value: list[float | None], lower: list[float | None], upper: list[float | None]
) -> bool:
    """True when some input is outside its band (False while the band is unknown)."""
    for v, lo, hi in zip(value, lower, upper, strict=False):
        if v is not None and lo is not None and hi is not None and not lo <= v <= hi:
            return True
    return False


class Board:
    """The dashboard's state. Not thread-safe: one event loop feeds and reads it."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.seq = 0
        self._streams: OrderedDict[str, _Stream] = OrderedDict()  # least recently updated first
        self._alerts: deque[dict[str, Any]] = deque(maxlen=self.limits.alerts)
        self.feeds: dict[str, str] = {}  # topic kind -> what its consumer is doing
        self.skipped = 0  # records that were not a valid score record or alert

    def _stream(self, name: str) -> _Stream:
        s = self._streams.get(name)
        if s is None:
            while len(self._streams) >= self.limits.streams:
                self._streams.popitem(last=False)
            lim = self.limits
            s = self._streams[name] = _Stream(name, lim.window, lim.stream_alerts)
        else:
            self._streams.move_to_end(name)
        return s

    def _bump(self, s: _Stream) -> int:
        self.seq += 1
        s.seq = self.seq
        return self.seq

    def set_feed(self, kind: str, status: str) -> None:
        """Record what the consumer of ``kind`` (``scores`` or ``alerts``) is doing."""
        if self.feeds.get(kind) != status:
            self.feeds[kind] = status
            self.seq += 1

    def add_score(self, rec: ScoreRecord) -> bool:
        """Add a score record; False (and nothing changes) when its stream already has a
        reading at or after its ``ts`` (a redelivery: a stream's readings only move on)."""
        s = self._streams.get(rec.stream)
        if s is not None and rec.ts <= s.last_ts:
            return False
        s = self._stream(rec.stream)
        s.last_ts = rec.ts
        value, lower, upper = _nums(rec.value), _nums(rec.lower), _nums(rec.upper)
        point = {
            "seq": self._bump(s),
            "ts": rec.ts,
            "value": value,
            "lower": lower,
            "median": _nums(rec.median),
            "upper": upper,
            "score": _num(rec.score),
            "alert": rec.alert,
            "outside": _outside(value, lower, upper),
        }
        s.points.append(point)
        return True

    def add_alert(self, alert: Alert, raw: Mapping[str, Any] | None = None) -> bool:
        """Add an alert; False when the stream's kept alerts already have its id (delivery
        is at-least-once). ``raw``: the record as decoded JSON, for fields this version's
        ``Alert`` may not have (``ALERT_EXTRAS``)."""
        s = self._streams.get(alert.stream)
        if s is not None and any(a["id"] == alert.id for a in s.alerts):
            return False
        s = self._stream(alert.stream)
        dumped = alert.model_dump()
        entry: dict[str, Any] = {
            "id": alert.id,
            "stream": alert.stream,
            "ts": alert.ts,
            "value": _nums(alert.value),
            "lower": _nums(alert.lower),
            "median": _nums(alert.median),
            "upper": _nums(alert.upper),
            "severity": _num(alert.severity),
            "tail_prob": _num(alert.tail_prob),
            "score": _num(alert.score),
        }
        for name in ALERT_EXTRAS:
            value = dumped.get(name, (raw or {}).get(name))
            if value not in (None, "", [], {}):
                entry[name] = _extra(value)
        entry["seq"] = self._bump(s)
        s.alert_count += 1
        s.alerts.append(entry)
        self._alerts.append(entry)
        return True

    def summaries(self, since: int = 0) -> list[dict[str, Any]]:
        """One summary per stream changed after ``since`` (all with 0), by name."""
        return sorted(
            (s.summary() for s in self._streams.values() if s.seq > since),
            key=lambda d: d["stream"],
        )

    def alerts(self, since: int = 0) -> list[dict[str, Any]]:
        """The kept latest alerts added after ``since``, oldest first."""
        return [a for a in self._alerts if a["seq"] > since]

    def stream(self, name: str, since: int = 0) -> dict[str, Any] | None:
        """A stream's kept points and alerts added after ``since``; None if not kept."""
        s = self._streams.get(name)
        if s is None:
            return None
        return {
            "stream": name,
            "points": _after(s.points, since),
            "alerts": _after(s.alerts, since),
        }

    def streams(self) -> list[str]:
        return sorted(self._streams)


def _after(items: deque[dict[str, Any]], since: int) -> list[dict[str, Any]]:
    """The items of ``items`` (in ``seq`` order) with ``seq`` after ``since``."""
    out: list[dict[str, Any]] = []
    for item in reversed(items):
        if item["seq"] <= since:
            break
        out.append(item)
    out.reverse()
    return out
