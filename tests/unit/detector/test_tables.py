"""The one series reader (``tcnad.detector.lab.tables.read_table``) and its rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tcnad.detector.lab.series import format_times, read_series
from tcnad.detector.lab.tables import BadRow, TableError, read_table, skipped_summary


def _file(tmp_path: Path, body: str, name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _times(path: Path, **kw: object) -> list[str]:
    return format_times(read_table(path, **kw).timestamps)  # type: ignore[arg-type]


def test_epoch_seconds_are_read_as_seconds(tmp_path: Path) -> None:
    path = _file(tmp_path, "timestamp,value\n1396310400,1\n1396310700.5,2\n")
    assert _times(path) == ["2014-04-01 00:00:00", "2014-04-01 00:05:00.500000"]


def test_epoch_milliseconds_by_magnitude(tmp_path: Path) -> None:
    path = _file(tmp_path, "timestamp,value\n1396310400000,1\n1396310700000,2\n")
    assert _times(path) == ["2014-04-01 00:00:00", "2014-04-01 00:05:00"]


def test_iso_with_offsets_is_utc(tmp_path: Path) -> None:
    body = "t,v\n2014-04-01T00:00:00Z,1\n2014-04-01T02:05:00+02:00,2\n2014-04-01 00:10,3\n"
    assert _times(_file(tmp_path, body)) == [
        "2014-04-01 00:00:00",
        "2014-04-01 00:05:00",
        "2014-04-01 00:10:00",
    ]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("t,v\n2014-04-01 00:00:00,1\n1396310700,2\n", r"ISO 8601 text \(line 2\), epoch seconds"),
        ("t,v\n1396310400,1\n1396310700000,2\n", r"epoch seconds \(line 2\), epoch milli"),
    ],
)
def test_mixed_timestamp_kinds_are_refused(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(TableError, match=match):
        read_table(_file(tmp_path, body), skip_bad_rows=True)


def test_epoch_out_of_range_is_a_bad_row(tmp_path: Path) -> None:
    path = _file(tmp_path, "t,v\n1396310400000000,1\n")  # microseconds
    with pytest.raises(BadRow, match=r"s\.csv:2: timestamp '1396310400000000' is not epoch"):
        read_table(path)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    body = f"timestamp{delimiter}value\n2014-04-01 00:00:00{delimiter}1.5\n"
    table = read_table(_file(tmp_path, body))
    assert table.columns == ("value",) and table.values.tolist() == [[1.5]]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("timestamp value\n", "no comma, semicolon or tab"),
        ("timestamp;value,x\n", "both comma and semicolon"),
    ],
)
def test_unclear_delimiter_is_refused(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(TableError, match=match):
        read_table(_file(tmp_path, body))


def test_header_is_optional(tmp_path: Path) -> None:
    table = read_table(_file(tmp_path, "1,2.0,300\n2,2.5,310\n"))
    assert table.columns == ("value", "value2")
    assert table.values.tolist() == [[2.0, 300.0], [2.5, 310.0]]


def test_value_columns_are_counted(tmp_path: Path) -> None:
    path = _file(tmp_path, "timestamp,value,extra\n2014-04-01 00:00:00,1,9\n")
    assert read_table(path, n_values=2).values.tolist() == [[1.0, 9.0]]
    with pytest.raises(TableError, match=r"2 value columns \(value, extra\); expected 1 \(why\)"):
        read_table(path, n_values=1, wanted="why")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2014-04-01 00:05:00,", "empty value in column 'value'"),
        ("2014-04-01 00:05:00,abc", "value 'abc' in column 'value' is not a number"),
        ("2014-04-01 00:05:00,inf", "value 'inf' in column 'value' is not finite"),
        ("2014-04-01 00:05:00,1,2", "3 cells, expected 2"),
        ("yesterday,1", "timestamp 'yesterday' is neither ISO 8601 nor an epoch number"),
        ("2014-04-01 00:00:00,2", "not after the previous row's (line 2)"),
        ("2014-03-31 23:00:00,2", "not after the previous row's (line 2)"),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path: Path, row: str, reason: str) -> None:
    path = _file(
        tmp_path, f"timestamp,value\n2014-04-01 00:00:00,1\n{row}\n2014-04-01 00:10:00,3\n"
    )
    with pytest.raises(BadRow) as err:
        read_table(path)
    assert str(err.value).startswith(f"{path}:3: ") and reason in str(err.value)
    table = read_table(path, skip_bad_rows=True)
    assert table.values.ravel().tolist() == [1.0, 3.0] and table.lines.tolist() == [2, 4]
    assert [b.line for b in table.skipped] == [3]


def test_the_first_bad_row_is_reported_and_skipped_rows_are_summed(tmp_path: Path) -> None:
    a = _file(tmp_path, "t,v\n1,1\n2,\n3,3\n3,4\n", "a.csv")
    b = _file(tmp_path, "t,v\n1,x\n2,2\n", "b.csv")
    with pytest.raises(BadRow, match=r"a\.csv:3: empty value"):
        read_table(a)
    tables = [read_table(p, skip_bad_rows=True) for p in (a, b)]
    assert skipped_summary(tables) == (
        f"skipped 3 bad rows (a.csv: 2, b.csv: 1); first: {a}:3: empty value in column 'v'"
    )
    assert skipped_summary(tables[:0]) is None


def test_blank_lines_are_not_rows_and_lines_are_counted(tmp_path: Path) -> None:
    table = read_table(_file(tmp_path, "t,v\n\n1,1\n\n2,2\n"))
    assert table.lines.tolist() == [3, 5]


def test_file_order_is_kept_when_asked(tmp_path: Path) -> None:
    path = _file(
        tmp_path, "timestamp,value\n2014-04-01 00:05,1\n2014-04-01 00:05,2\n2014-04-01 00:00,3\n"
    )
    s = read_series(path)  # as NAB's data files are read: rows as given
    assert s.values.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(BadRow, match=":3: timestamp"):
        read_series(path, in_order=True)


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet input needs the 'parquet' extra")
    import pyarrow.parquet as pq

    stamps = np.array(["2014-04-01T00:00", "2014-04-01T00:05"], dtype="datetime64[us]")
    table = pa.table({"timestamp": stamps, "a": [1.0, 2.0], "b": [3.0, None]})
    pq.write_table(table, tmp_path / "s.parquet")
    with pytest.raises(BadRow, match=r"s\.parquet:3: empty value in column 'b'"):
        read_table(tmp_path / "s.parquet")
    got = read_table(tmp_path / "s.parquet", skip_bad_rows=True)
    assert got.columns == ("a", "b") and got.values.tolist() == [[1.0, 3.0]]
