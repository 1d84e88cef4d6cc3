"""Univariate series: ``timestamp,value`` files read into ``Series``, and times written back.

Timestamps are kept as ``datetime64[us]`` (``(n,)``) and values as float64 ``(n,)``. This is
the file format of the Numenta Anomaly Benchmark and of ``tcnad score``; the files are read
by ``tcnad.detector.lab.tables.read_table``, whose rules every command shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F64
from tcnad.detector.lab.tables import Table, TableError, read_table

Times = npt.NDArray[np.datetime64]


def epoch_seconds(times: Times) -> F64:
    """``(n,)`` datetime64 -> float64 seconds since 1970-01-01 (UTC, as the worker's ``ts``)."""
    us = np.asarray(times, dtype="datetime64[us]").astype(np.int64)
    return np.asarray(us / 1e6, dtype=np.float64)


SeriesFormatError = TableError  # a series file that is not readings: see ``tables``


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


def series_of(table: Table, name: str) -> Series:
    """The one value column of ``table`` as a ``Series``."""
    if table.values.shape[1] != 1:
        raise TableError(f"{table.path}: {table.values.shape[1]} value columns; expected 1")
    return Series(name, table.timestamps, np.ascontiguousarray(table.values[:, 0]))


def read_series(
    path: Path, name: str | None = None, *, in_order: bool = False, skip_bad_rows: bool = False
) -> Series:
    """Read a ``timestamp,value`` file (``tables.read_table``, one value column).

    By default rows are readings in file order, timestamps kept as given, as the Numenta
    Anomaly Benchmark's data files are read (its results have one row per data row, and
    its real exports repeat some timestamps, e.g. around daylight-saving changes);
    ``in_order`` requires each timestamp to be later than the previous row's. Raises
    ``TableError`` (``BadRow`` naming the file and line) for a file that is not readings.
    """
    table = read_table(path, n_values=1, in_order=in_order, skip_bad_rows=skip_bad_rows)
    return series_of(table, name or path.name)


def format_times(times: Times) -> list[str]:
    """``(n,)`` datetime64 -> ``YYYY-MM-DD HH:MM:SS`` strings (microseconds only if present)."""
    out = np.datetime_as_string(times.astype("datetime64[us]"), unit="us")
    return [s.replace("T", " ").removesuffix(".000000") for s in out.tolist()]
