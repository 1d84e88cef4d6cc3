"""The one reader of series files: CSV or Parquet, a timestamp column then value columns.

``tcnad score``, ``tcnad plot``, ``tcnad train`` and ``tcnad produce --csv`` all read files
with ``read_table``, under the same rules:

- Columns: the first is the timestamp, each further one is one value per reading (one
  column per model input). A caller that knows how many values a reading has (``n_values``)
  refuses a file with another number of value columns, naming them.
- Header: the first line is a header when its first cell is not a timestamp; without one
  the value columns are named ``value``, ``value2``, ...
- Delimiter (CSV): comma, semicolon or tab, whichever one the first line holds; a first
  line with none of them, or with more than one of them, is refused.
- Timestamps, one kind per file: ISO 8601 (``2014-04-01 00:00:00``, ``2014-04-01T00:00Z``;
  without an offset a time is UTC) or epoch numbers. A number below 1e11 is epoch seconds
  (1e11 s is the year 5138), one from 1e11 up to 1e14 is epoch milliseconds (1e11 ms is
  March 1973); a negative number, one from 1e14 up, and a file that mixes ISO text, epoch
  seconds and epoch milliseconds are refused, the last naming a line of each kind.
- Rows are readings in time order: each timestamp must be later than the previous row's
  (``in_order=False`` keeps the rows in file order as given, for NAB's data files, whose
  results must have one row per data row).
- A bad row (a wrong number of cells, an unreadable timestamp, an empty, unreadable or
  non-finite value, a timestamp not after the previous row's) raises ``BadRow``, whose text
  is ``file:line: reason``; with ``skip_bad_rows`` such rows are left out and listed in
  ``Table.skipped`` instead. Blank lines are not rows.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F64
from tcnad.detector.errors import DetectorError

Times = npt.NDArray[np.datetime64]
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
MS_FROM = 1e11  # epoch numbers from here up are milliseconds, below it seconds
MS_UNTIL = 1e14  # and from here up neither (microseconds, nanoseconds: refused)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
KINDS = {"iso": "ISO 8601 text", "s": "epoch seconds", "ms": "epoch milliseconds"}


class TableError(DetectorError, ValueError):
    """A series file cannot be read as a whole (delimiter, columns, mixed timestamps)."""


class BadRow(TableError):
    """One row of a series file is not a reading; ``str()`` is ``file:line: reason``."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


@dataclass(frozen=True)
class Table:
    """One file's readings. timestamps ``(n,)`` datetime64[us]; values ``(n, k)`` float64,
    one column per name in ``columns``; lines ``(n,)`` each row's line in the file (its
    row number, header as row 1, for Parquet); skipped: the bad rows left out."""

    path: Path
    columns: tuple[str, ...]
    timestamps: Times
    values: F64
    lines: npt.NDArray[np.int64]
    skipped: tuple[BadRow, ...] = ()

    def __len__(self) -> int:
        return int(self.values.shape[0])


def _epoch_kind(x: float) -> str | None:
    if not math.isfinite(x) or x < 0 or x >= MS_UNTIL:
        return None
    return "ms" if x >= MS_FROM else "s"


def parse_timestamp(cell: str) -> tuple[str, int]:
    """``(kind, microseconds since the epoch)`` of one timestamp cell; kind is ``iso``,
    ``s`` or ``ms`` (see the module's rules). Raises ValueError with the reason."""
    text = cell.strip()
    try:
        x = float(text)
    except ValueError:
        pass
    else:
        kind = _epoch_kind(x)
        if kind is None:
            raise ValueError(
                f"timestamp {text!r} is not epoch seconds (0 up to 1e11) or epoch "
                f"milliseconds (1e11 up to 1e14)"
            )
        return kind, round(x * (1e3 if kind == "ms" else 1e6))
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is neither ISO 8601 nor an epoch number") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return "iso", (dt - _EPOCH) // _US


def sniff_delimiter(path: Path, first_line: str) -> str:
    """The one of comma, semicolon and tab that ``first_line`` holds; else TableError."""
    found = [d for d in DELIMITERS if d in first_line]
    if len(found) == 1:
        return found[0]
    if not found:
        raise TableError(
            f"{path}:1: no comma, semicolon or tab between columns; expected a timestamp "
            "column and value columns"
        )
    names = " and ".join(DELIMITERS[d] for d in found)
    raise TableError(f"{path}:1: the first line holds both {names}; use one delimiter")


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of each non-blank line of a CSV file, the delimiter sniffed."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        first = ""
        for line in fh:
            if line.strip():
                first = line
                break
        if not first:
            return
        delimiter = sniff_delimiter(path, first)
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                yield reader.line_num, cells


def _cell_text(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, datetime):
        return x.isoformat()
    return repr(x) if isinstance(x, float) else str(x)


def _parquet_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The rows of a Parquet file as text cells, its column names first (row 1)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise TableError(f"{path}: reading Parquet needs pyarrow (the 'parquet' extra)") from exc
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: not a readable Parquet file ({exc})") from exc
    yield 1, [str(n) for n in table.column_names]
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    for k, cells in enumerate(zip(*cols, strict=True), start=2):
        yield k, [_cell_text(c) for c in cells]


def _is_timestamp(cell: str) -> bool:
    try:
        parse_timestamp(cell)
    except ValueError:
        return False
    return True


def _value(cell: str, column: str) -> float:
    text = cell.strip()
    if not text:
        raise ValueError(f"empty value in column {column!r}")
    try:
        x = float(text)
    except ValueError:
        raise ValueError(f"value {text!r} in column {column!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"value {text!r} in column {column!r} is not finite")
    return x


def _columns(path: Path, rows: Iterator[tuple[int, list[str]]]) -> tuple[list[str], list[Any]]:
    """Value column names, and the first data row when the file has no header."""
    first = next(rows, None)
    if first is None:
        raise TableError(f"{path}: no rows")
    line, cells = first
    if len(cells) < 2:
        raise TableError(f"{path}:{line}: one column; expected a timestamp and values")
    if _is_timestamp(cells[0]):
        names = ["value"] + [f"value{i}" for i in range(2, len(cells))]
        return names, [first]
    return [c.strip() for c in cells[1:]], []


def read_table(
    path: Path,
    *,
    n_values: int | None = None,
    wanted: str = "",
    skip_bad_rows: bool = False,
    in_order: bool = True,
) -> Table:
    """Read a ``.csv`` or ``.parquet`` series file under the module's rules.

    n_values: value columns the caller needs (None: any number); ``wanted`` says why, in
    the error (e.g. "the model takes 1 input"). Raises TableError (BadRow for a row).
    """
    rows = _parquet_rows(path) if path.suffix == ".parquet" else _csv_rows(path)
    try:
        names, pending = _columns(path, rows)
    except OSError as exc:
        raise TableError(f"{path}: cannot read ({exc})") from exc
    if n_values is not None and len(names) != n_values:
        listed = ", ".join(names)
        why = f" ({wanted})" if wanted else ""
        raise TableError(f"{path}: {len(names)} value columns ({listed}); expected {n_values}{why}")
    return _read_rows(path, names, [*pending, *rows], skip_bad_rows, in_order)


def _fast_times(texts: Sequence[str]) -> tuple[str, npt.NDArray[np.int64]] | None:
    """All timestamps at once when they are all of one kind and plain (epoch numbers in
    range, or ISO text without an offset): ``(kind, microseconds)``; else None, and the
    rows are parsed one by one to name the bad ones."""
    if not texts:
        return None
    try:
        x = np.array(texts, dtype=np.float64)
    except ValueError:
        x = None
    if x is not None:
        if not (np.isfinite(x).all() and (x >= 0).all() and (x < MS_UNTIL).all()):
            return None
        ms = x >= MS_FROM
        if ms.any() and not ms.all():
            return None
        kind = "ms" if ms.all() else "s"
        return kind, np.round(x * (1e3 if kind == "ms" else 1e6)).astype(np.int64)
    if any(
        not t[:1].isdigit() or "-" not in t or "+" in t or "Z" in t or t.count("-") > 2
        for t in texts
    ):
        return None  # offsets, and words numpy would read ("now"): parsed row by row
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            us = np.array([t.strip().replace(" ", "T", 1) for t in texts], dtype="datetime64[us]")
    except (ValueError, Warning):
        return None
    return None if np.isnat(us).any() else ("iso", us.astype(np.int64))


def _read_rows(
    path: Path,
    names: Sequence[str],
    rows: Iterable[tuple[int, list[str]]],
    skip_bad_rows: bool,
    in_order: bool,
) -> Table:
    width = len(names) + 1
    lines: list[int] = []
    texts: list[str] = []
    values: list[list[float]] = []
    bad: list[BadRow] = []
    for line, cells in rows:
        try:
            if len(cells) != width:
                raise ValueError(
                    f"{len(cells)} cells, expected {width} (timestamp, {', '.join(names)})"
                )
            values.append([_value(c, n) for c, n in zip(cells[1:], names, strict=True)])
        except ValueError as exc:
            bad.append(BadRow(path, line, str(exc)))
            if not skip_bad_rows:
                break
            continue
        lines.append(line)
        texts.append(cells[0].strip())
    fast = _fast_times(texts)
    kinds: dict[str, int] = {}  # timestamp kind -> first line of it
    if fast is not None:
        kinds[fast[0]] = lines[0]
        stamps = fast[1].tolist()
    else:
        stamps = []
        for line, text in zip(lines, texts, strict=True):
            try:
                kind, us = parse_timestamp(text)
            except ValueError as exc:
                bad.append(BadRow(path, line, str(exc)))
                stamps.append(None)
                continue
            kinds.setdefault(kind, line)
            stamps.append(us)
    if len(kinds) > 1:
        seen = ", ".join(f"{KINDS[k]} (line {n})" for k, n in sorted(kinds.items(), key=_second))
        raise TableError(f"{path}: timestamps of more than one kind: {seen}; use one kind")
    keep: list[int] = []
    for i, us in enumerate(stamps):
        if us is None:
            continue
        if in_order and keep and us <= stamps[keep[-1]]:
            bad.append(
                BadRow(
                    path,
                    lines[i],
                    f"timestamp {texts[i]} is not after the previous row's (line "
                    f"{lines[keep[-1]]}); rows must be in time order",
                )
            )
            continue
        keep.append(i)
    bad.sort(key=lambda b: b.line)
    if bad and not skip_bad_rows:
        raise bad[0]
    return Table(
        path=path,
        columns=tuple(names),
        timestamps=np.asarray([stamps[i] for i in keep], dtype=np.int64).astype("datetime64[us]"),
        values=np.asarray([values[i] for i in keep], dtype=np.float64).reshape(
            len(keep), len(names)
        ),
        lines=np.asarray([lines[i] for i in keep], dtype=np.int64),
        skipped=tuple(bad),
    )


def _second(item: tuple[str, int]) -> int:
    return item[1]


def skipped_summary(tables: Sequence[Table]) -> str | None:
    """One line counting the bad rows skipped, per file, with the first one; None if none."""
    per_file = [(t.path, len(t.skipped)) for t in tables if t.skipped]
    if not per_file:
        return None
    total = sum(n for _, n in per_file)
    files = ", ".join(f"{p.name}: {n}" for p, n in per_file)
    first = next(t.skipped[0] for t in tables if t.skipped)
    return f"skipped {total} bad rows ({files}); first: {first}"
