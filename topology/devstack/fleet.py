"""Reading sources for ``tcnad produce``: a seeded synthetic fleet and replay of series files.

The fleet mixes sensor streams (``sensor-0007``: level + daily-like seasonality + AR(1)
noise) and tick streams (``tick-AAPL``: a geometric random walk). Some streams are clean;
the others get injected anomalies after ``first_anomaly`` steps, spaced by ``gap`` steps.
The anomaly kinds and their effects are those of the synthetic corpus
(``tcnad.detector.lab.synthetic.ANOMALY_KINDS``, applied by its ``apply_anomaly``), sized
in standard deviations of a sensor's noise or of a tick's log-price step (ticks take them
on the log price):

- ``spike``: one reading off by 6-10 standard deviations (a bad print for ticks);
- ``level_shift``: the level moves by 6-10 standard deviations and stays there;
- ``variance_burst``: 20-60 readings get extra noise of 5-8 standard deviations;
- ``flatline``: 20-60 readings repeat the first one (a stuck sensor, a frozen quote).

Everything is a pure function of the seed, so the ground truth (``truth()``) says exactly
where the anomalies are. Timestamps are regular: ``start_ts + step * interval``.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tcnad.detector.lab.series import epoch_seconds
from tcnad.detector.lab.synthetic import ANOMALY_KINDS, apply_anomaly
from tcnad.detector.lab.tables import BadRow, Table, TableError, read_table
from tcnad.topology.wire.schemas import (
    WireError,
    check_stream,
    encode_reading,
    parse_ts,
    parse_values,
)

__all__ = [
    "ANOMALY_KINDS",
    "SHIFT_WINDOW",
    "Anomaly",
    "CsvReplay",
    "StreamTruth",
    "SyntheticFleet",
    "tick_symbols",
]

logger = logging.getLogger(__name__)

Message = tuple[bytes, bytes]  # (key = stream id, value = wire JSON)

_SYMBOLS = [
    "AAPL",
    "MSFT",
    "GOOG",
    "AMZN",
    "NVDA",
    "META",
    "TSLA",
    "BRKB",
    "JPM",
    "V",
    "UNH",
    "XOM",
    "JNJ",
    "WMT",
    "MA",
    "PG",
    "HD",
    "CVX",
    "MRK",
    "ABBV",
    "KO",
    "PEP",
    "AVGO",
    "COST",
    "LLY",
]
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SPIKE_WINDOW = 5  # readings after a spike in which an alert still counts as a hit
SHIFT_WINDOW = 50  # readings after a level shift's onset in which alerts are hits
# readings of the kinds that last (a spike and a level shift's onset take one)
_DURATION = {"variance_burst": (20, 60), "flatline": (20, 60)}
# size in standard deviations, drawn uniformly; a flatline has none (magnitude 0)
_SIZE = {"spike": (6.0, 10.0), "level_shift": (6.0, 10.0), "variance_burst": (10.0, 16.0)}


@dataclass(frozen=True)
class Anomaly:
    """An injected anomaly on steps ``[start, end)`` of one stream. An alert whose
    timestamp lies in ``[start_ts, window_end_ts]`` detects it."""

    kind: str
    start: int
    end: int
    start_ts: float
    end_ts: float
    window_end_ts: float
    magnitude: float  # size in standard deviations (a burst's noise is half of it; flatline 0)


@dataclass
class StreamTruth:
    stream: str
    kind: str  # "sensor" or "tick"
    anomalies: list[Anomaly] = field(default_factory=list)


def tick_symbols(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct ticker-like symbols: well-known ones first, then random 3-4 letters."""
    out = list(_SYMBOLS[:n])
    seen = set(out)
    while len(out) < n:
        sym = "".join(rng.choice(list(_LETTERS), size=int(rng.integers(3, 5))))
        if sym not in seen:
            seen.add(sym)
            out.append(sym)
    return out


class _Schedule:
    """A stream's anomalies, drawn lazily and deterministically as steps are generated."""

    def __init__(self, rng: np.random.Generator, first: int, gap: tuple[int, int]) -> None:
        self._rng = rng
        self._gap = gap
        self._next = first + int(rng.integers(0, gap[1] - gap[0] + 1))
        self.items: list[tuple[str, int, int, float, int]] = []  # kind, start, end, mag, sign

    def until(self, stop: int) -> list[tuple[str, int, int, float, int]]:
        """All anomalies starting before ``stop``."""
        while self._next < stop:
            kind = ANOMALY_KINDS[int(self._rng.integers(0, len(ANOMALY_KINDS)))]
            start = self._next
            end = start + 1
            if kind in _DURATION:
                low, high = _DURATION[kind]
                end = start + int(self._rng.integers(low, high + 1))
            mag = float(self._rng.uniform(*_SIZE[kind])) if kind in _SIZE else 0.0
            sign = 1 if self._rng.random() < 0.5 else -1
            self.items.append((kind, start, end, round(mag, 3), sign))
            self._next = end + int(self._rng.integers(self._gap[0], self._gap[1] + 1))
        return self.items


class SyntheticFleet:
    """A seeded fleet of sensor and tick streams with injected anomalies.

    ``blocks`` yields values in time-major blocks of shape ``(T, n_streams, width)``;
    ``messages`` yields wire messages ``(key, value)`` step by step across all streams."""

    def __init__(
        self,
        n_streams: int = 20,
        seed: int = 0,
        *,
        width: int = 1,
        tick_fraction: float = 0.3,
        anomalous_fraction: float = 0.5,
        start_ts: float = 1_700_000_000.0,
        interval: float = 1.0,
        first_anomaly: int = 300,
        gap: tuple[int, int] = (150, 400),
    ) -> None:
        if n_streams < 1 or width < 1 or interval <= 0 or not 0 < gap[0] <= gap[1]:
            raise ValueError("need n_streams >= 1, width >= 1, interval > 0, 0 < gap[0] <= gap[1]")
        self.n_streams, self.seed, self.width = n_streams, seed, width
        self.start_ts, self.interval = float(start_ts), float(interval)
        self.first_anomaly, self.gap = first_anomaly, gap
        rng = np.random.default_rng([seed, 0])
        n_ticks = min(n_streams, round(n_streams * tick_fraction))
        n_sensors = n_streams - n_ticks
        self.kinds = ["sensor"] * n_sensors + ["tick"] * n_ticks
        self.ids = [f"sensor-{i:04d}" for i in range(n_sensors)] + [
            f"tick-{s}" for s in tick_symbols(n_ticks, rng)
        ]
        n_bad = round(n_streams * anomalous_fraction)
        anomalous = set(rng.permutation(n_streams)[:n_bad].tolist())
        self._schedules = {
            i: _Schedule(np.random.default_rng([seed, 1, i]), first_anomaly, gap)
            for i in sorted(anomalous)
        }
        self._params(rng)
        self._noise_rng = np.random.default_rng([seed, 2])
        self._held: dict[tuple[int, int], np.ndarray] = {}  # (stream, start): flatline value
        self._t = 0

    def _params(self, rng: np.random.Generator) -> None:
        s, w = self.n_streams, self.width
        self._is_tick = np.array([k == "tick" for k in self.kinds])
        self._level = rng.uniform(-20, 80, (s, w))
        self._amp = rng.uniform(0.5, 4.0, (s, 1))
        self._period = rng.uniform(60, 400, (s, 1))
        self._phase = rng.uniform(0, 2 * math.pi, (s, 1))
        self._phi = rng.uniform(0.3, 0.9, (s, 1))
        self._sigma = rng.uniform(0.2, 1.5, (s, 1))
        self._std = self._sigma / np.sqrt(1 - self._phi**2)  # stationary AR(1) std
        self._ar = np.zeros((s, w))
        self._vol = rng.uniform(5e-4, 2e-3, (s, 1))
        self._logp = np.log(rng.uniform(20, 500, (s, 1))) + rng.uniform(0, 0.5, (s, w))

    def _inject(self, t0: int, sensor: np.ndarray, logp: np.ndarray) -> None:
        """Apply every anomaly that touches steps ``t0 .. t0 + n`` to the clean block
        (``(n, n_streams, width)``, in place): sensors in their units, ticks on the log
        price, each sized in its stream's standard deviations."""
        n = sensor.shape[0]
        for i, sched in self._schedules.items():
            x, unit = (
                (logp[:, i], self._vol[i]) if self._is_tick[i] else (sensor[:, i], self._std[i])
            )
            for kind, start, end, mag, sign in sched.until(t0 + n):
                if start >= t0 + n or (end <= t0 and kind != "level_shift"):
                    continue
                if kind == "flatline" and start >= t0:
                    self._held[i, start] = x[start - t0].copy()
                noise = None
                if kind == "variance_burst":
                    rng = np.random.default_rng([self.seed, 3, i, start])
                    noise = rng.standard_normal((end - start, self.width))
                size = np.full(self.width, mag * unit[0])
                held = self._held.get((i, start))
                apply_anomaly(x, kind, start, end, size, sign, noise, t0=t0, held=held)

    def block(self, n: int) -> np.ndarray:
        """The next ``n`` steps of every stream, shape ``(n, n_streams, width)``."""
        t0 = self._t
        z = self._noise_rng.standard_normal((n, self.n_streams, self.width))
        sensor = np.empty((n, self.n_streams, self.width))
        logp = np.empty((n, self.n_streams, self.width))
        steps = np.arange(t0, t0 + n, dtype=np.float64)
        for k in range(n):
            # sensors: level + seasonality + AR(1) noise; ticks: log price random walk
            self._ar = self._phi * self._ar + self._sigma * z[k]
            season = self._amp * np.sin(2 * math.pi * steps[k] / self._period + self._phase)
            sensor[k] = self._level + season + self._ar
            self._logp += self._vol * z[k]
            logp[k] = self._logp
        self._inject(t0, sensor, logp)
        out = np.where(self._is_tick[None, :, None], np.exp(logp), sensor)
        self._t += n
        return np.round(out, 4)

    def messages(self, steps: int | None = None, block: int = 256) -> Iterator[Message]:
        """Wire messages, time-major (step 0 of every stream, then step 1, ...); ``steps``
        None means without end."""
        prefixes = [f'{{"stream":"{s}","ts":' for s in self.ids]
        keys = [s.encode() for s in self.ids]
        produced = 0
        while steps is None or produced < steps:
            n = block if steps is None else min(block, steps - produced)
            t0 = self._t
            values = self.block(n)
            for k in range(n):
                ts = repr(self.start_ts + (t0 + k) * self.interval)
                row = values[k].tolist()
                for i, vals in enumerate(row):
                    v = repr(vals[0]) if self.width == 1 else "[" + ",".join(map(repr, vals)) + "]"
                    yield keys[i], f'{prefixes[i]}{ts},"value":{v}}}'.encode()
            produced += n

    def truth(self, steps: int | None = None) -> list[StreamTruth]:
        """Streams and the anomalies that start within the first ``steps`` steps (default:
        the steps generated so far)."""
        stop = self._t if steps is None else steps
        out = [StreamTruth(s, k) for s, k in zip(self.ids, self.kinds, strict=True)]
        for i, sched in self._schedules.items():
            for kind, start, end, mag, _sign in sched.until(stop):
                if start >= stop:
                    continue
                window = {"spike": _SPIKE_WINDOW, "level_shift": SHIFT_WINDOW}.get(kind, 0)
                last = end - 1 + window if kind != "level_shift" else start + window
                out[i].anomalies.append(
                    Anomaly(
                        kind, start, end, self._ts(start), self._ts(end - 1), self._ts(last), mag
                    )
                )
        return out

    def _ts(self, step: int) -> float:
        return self.start_ts + step * self.interval

    def truth_document(self, steps: int | None = None) -> dict[str, Any]:
        """``truth`` as a JSON-ready document (what ``tcnad produce --truth`` writes)."""
        streams = self.truth(steps)
        return {
            "seed": self.seed,
            "width": self.width,
            "start_ts": self.start_ts,
            "interval": self.interval,
            "steps": self._t if steps is None else steps,
            "clean": [s.stream for s in streams if not s.anomalies],
            "anomalous": [s.stream for s in streams if s.anomalies],
            "streams": [asdict(s) for s in streams],
        }


@dataclass
class CsvReplay:
    """Replay of series files; stream id = file stem, messages of all files merged in
    timestamp order.

    The files are read when the replay is made, by ``tcnad.detector.lab.tables.read_table``
    (CSV or Parquet, delimiter sniffed, ISO 8601 or epoch timestamps, ``width`` value
    columns, rows in time order), and every reading is checked against the wire rules. A
    bad row raises ``BadRow`` (``file:line: reason``) unless ``skip_bad_rows``, which
    leaves it out and lists it in ``skipped``."""

    paths: Sequence[Path]
    width: int = 1
    skip_bad_rows: bool = False
    tables: list[Table] = field(init=False)
    skipped: list[BadRow] = field(init=False)

    def __post_init__(self) -> None:
        self.tables, self.skipped = [], []
        wanted = f"--width is {self.width}"
        for path in self.paths:
            try:
                check_stream(path.stem)
            except WireError as exc:
                raise TableError(f"{path}: the file's stem is the stream id: {exc}") from None
            table = read_table(
                path, n_values=self.width, wanted=wanted, skip_bad_rows=self.skip_bad_rows
            )
            table, bad = _on_the_wire(table)
            if bad and not self.skip_bad_rows:
                raise bad[0]
            table = replace(table, skipped=tuple(sorted([*table.skipped, *bad], key=_line)))
            self.tables.append(table)
            self.skipped.extend(table.skipped)

    def _rows(self, table: Table) -> Iterator[tuple[float, int, bytes, bytes]]:
        key = table.path.stem.encode()
        stamps = epoch_seconds(table.timestamps).tolist()
        for ts, line, values in zip(stamps, table.lines.tolist(), table.values, strict=True):
            yield ts, line, key, encode_reading(table.path.stem, ts, values.tolist())

    def messages(self) -> Iterator[Message]:
        merged = heapq.merge(*(self._rows(t) for t in self.tables), key=lambda r: (r[0], r[1]))
        for _ts, _line, key, value in merged:
            yield key, value

    def count(self) -> int:
        """Readings across all files."""
        return sum(len(t) for t in self.tables)


def _line(bad: BadRow) -> int:
    return bad.line


def _on_the_wire(table: Table) -> tuple[Table, list[BadRow]]:
    """``table`` without the rows the wire would refuse (a timestamp or value out of its
    range), and those rows as bad rows."""
    stamps = epoch_seconds(table.timestamps).tolist()
    bad: list[BadRow] = []
    keep = np.ones(len(table), dtype=bool)
    for i, (ts, line) in enumerate(zip(stamps, table.lines.tolist(), strict=True)):
        try:
            parse_ts(ts)
            parse_values(table.values[i].tolist())
        except WireError as exc:
            bad.append(BadRow(table.path, line, str(exc)))
            keep[i] = False
    if not bad:
        return table, bad
    cut = replace(
        table,
        timestamps=table.timestamps[keep],
        values=table.values[keep],
        lines=table.lines[keep],
    )
    return cut, bad
