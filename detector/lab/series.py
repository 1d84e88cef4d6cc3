"""Reading and writing univariate series as ``timestamp,value`` CSV files.

Timestamps are kept as ``datetime64[us]`` (``(n,)``) and values as float64 ``(n,)``. This is
the file format of the Numenta Anomaly Benchmark and of ``tcnad score``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F64
from tcnad.detector.errors import DetectorError

Times = npt.NDArray[np.datetime64]


def epoch_seconds(times: Times) -> F64:
    """``(n,)`` datetime64 -> float64 seconds since 1970-01-01 (UTC, as the worker's ``ts``)."""
    us = np.asarray(times, dtype="datetime64[us]").astype(np.int64)
    return np.asarray(us / 1e6, dtype=np.float64)


class SeriesFormatError(DetectorError, ValueError):
    """A series file is not a ``timestamp,value`` CSV with finite values in time order."""


@dataclass(frozen=True)
class Series:
    """One stream read from a file. timestamps: ``(n,)`` datetime64[us]; values: ``(n,)``."""

    name: str
    timestamps: Times
    values: F64

    def __len__(self) -> int:
        return int(self.values.shape[0])


def parse_times(texts: list[str], where: str) -> Times:
    """Parse ISO-like timestamps (``2014-04-01 00:00:00[.ffffff]``) into datetime64[us]."""
    try:
        return np.array([t.strip().replace(" ", "T", 1) for t in texts], dtype="datetime64[us]")
    except ValueError as exc:
        raise SeriesFormatError(f"{where}: unreadable timestamp ({exc})") from exc


def read_series(path: Path, name: str | None = None) -> Series:
    """Read a ``timestamp,value`` CSV (header required; extra columns are ignored).

    Rows are readings in file order; timestamps are kept as given (real exports repeat some,
    e.g. around daylight-saving changes). Raises SeriesFormatError naming the file and row
    for a missing column or a non-finite or unparsable value.
    """
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or [c.strip() for c in rows[0][:2]] != ["timestamp", "value"]:
        raise SeriesFormatError(f"{path}: expected a header 'timestamp,value'")
    texts: list[str] = []
    values: list[float] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 2:
            raise SeriesFormatError(f"{path}:{lineno}: expected 'timestamp,value', got {row}")
        try:
            value = float(row[1])
        except ValueError as exc:
            raise SeriesFormatError(f"{path}:{lineno}: value {row[1]!r} is not a number") from exc
        if not math.isfinite(value):
            raise SeriesFormatError(f"{path}:{lineno}: value {row[1]!r} is not finite")
        texts.append(row[0])
        values.append(value)
    times = parse_times(texts, str(path))
    return Series(name or path.name, times, np.asarray(values, dtype=np.float64))


def format_times(times: Times) -> list[str]:
    """``(n,)`` datetime64 -> ``YYYY-MM-DD HH:MM:SS`` strings (microseconds only if present)."""
    out = np.datetime_as_string(times.astype("datetime64[us]"), unit="us")
    return [s.replace("T", " ").removesuffix(".000000") for s in out.tolist()]
