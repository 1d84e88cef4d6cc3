"""Series files as ``tcnad score``, ``tcnad plot`` and ``tcnad produce --csv`` read them: one
reader, the same rules and the same errors (``tcnad.detector.lab.tables``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tcnad.detector.lab.tables import BadRow, TableError
from tcnad.topology import cli
from tcnad.topology.cli.lab import plot as plot_cmd
from tcnad.topology.cli.lab import score as score_cmd
from tcnad.topology.devstack.fleet import CsvReplay
from tests.unit.detector.test_offline import FakeEngine

ISO = ["2014-04-01 00:00:00", "2014-04-01 00:05:00", "2014-04-01 00:10:00"]


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score_cmd, "load_engine", lambda model, device, cap: FakeEngine(cap))
    monkeypatch.setattr(plot_cmd, "load_engine", lambda model, device, cap: FakeEngine(cap))


def _score(tmp_path: Path, body: str, *flags: str) -> tuple[int, list[dict[str, str]] | None]:
    src = tmp_path / "s.csv"
    src.write_text(body)
    out = tmp_path / "out"
    rc = cli.main(["score", str(src), "--out", str(out), *flags])
    if not (out / "s.csv").is_file():
        return rc, None
    with (out / "s.csv").open(newline="") as fh:
        return rc, list(csv.DictReader(fh))


def test_score_reads_epoch_seconds_as_seconds(tmp_path: Path) -> None:
    rc, rows = _score(tmp_path, "timestamp,value\n1396310400,1\n1396310700,2\n1396311000,3\n")
    assert rc == 0 and rows is not None
    assert [r["timestamp"] for r in rows] == ISO


def test_score_reads_semicolons(tmp_path: Path) -> None:
    body = "timestamp;value\n" + "".join(f"{t};{v}\n" for t, v in zip(ISO, [1, 2, 3], strict=True))
    rc, rows = _score(tmp_path, body)
    assert rc == 0 and rows is not None
    assert [(r["timestamp"], r["value"]) for r in rows] == list(
        zip(ISO, ["1.0", "2.0", "3.0"], strict=True)
    )


def test_score_empty_value_is_a_bad_row_unless_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = f"timestamp,value\n{ISO[0]},1\n{ISO[1]},\n{ISO[2]},3\n"
    rc, rows = _score(tmp_path, body)
    err = capsys.readouterr().err
    assert rc == 1 and rows is None
    assert f"{tmp_path / 's.csv'}:3: empty value in column 'value'" in err
    rc, rows = _score(tmp_path, body, "--skip-bad-rows")
    assert rc == 0 and rows is not None and [r["value"] for r in rows] == ["1.0", "3.0"]
    err = capsys.readouterr().err  # with the progress bar's lines
    assert [line for line in err.splitlines() if line.startswith("tcnad score:")] == [
        f"tcnad score: skipped 1 bad rows (s.csv: 1); first: {tmp_path / 's.csv'}:3: "
        "empty value in column 'value'"
    ]


def test_score_refuses_extra_value_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, rows = _score(tmp_path, f"timestamp,value,extra\n{ISO[0]},1,9\n{ISO[1]},2,9\n")
    assert rc == 1 and rows is None
    assert "2 value columns (value, extra); expected 1" in capsys.readouterr().err


def test_score_refuses_out_of_order_and_repeated_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = f"timestamp,value\n{ISO[1]},1\n{ISO[0]},2\n{ISO[1]},3\n{ISO[2]},4\n"
    rc, rows = _score(tmp_path, body)
    assert rc == 1 and rows is None
    assert f"s.csv:3: timestamp {ISO[0]} is not after the previous row's (line 2)" in (
        capsys.readouterr().err
    )
    rc, rows = _score(tmp_path, body, "--skip-bad-rows")
    assert rc == 0 and rows is not None
    assert [(r["timestamp"], r["value"]) for r in rows] == [(ISO[1], "1.0"), (ISO[2], "4.0")]
    assert "skipped 2 bad rows (s.csv: 2)" in capsys.readouterr().err


def test_score_nab_layout_keeps_the_rows_as_given(tmp_path: Path) -> None:
    data = tmp_path / "nab" / "data" / "cat"
    data.mkdir(parents=True)
    (data / "x.csv").write_text(f"timestamp,value\n{ISO[0]},1\n{ISO[1]},2\n{ISO[1]},3\n")
    out = tmp_path / "res"
    argv = ["score", str(tmp_path / "nab" / "data"), "--out", str(out), "--nab-layout"]
    assert cli.main(argv) == 0  # no windows file: labels all 0
    with (out / "tcnad" / "cat" / "tcnad_x.csv").open(newline="") as fh:
        assert [r["value"] for r in csv.DictReader(fh)] == ["1.0", "2.0", "3.0"]


def test_plot_reads_as_score_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "s.csv"
    src.write_text("timestamp;value\n1396310400;1\n1396310700;\n1396311000;3\n")
    argv = ["plot", str(src), "--png", str(tmp_path / "s.png")]
    assert cli.main(argv) == 1
    assert f"{src}:3: empty value" in capsys.readouterr().err
    assert cli.main([*argv, "--skip-bad-rows"]) == 0
    assert "skipped 1 bad rows" in capsys.readouterr().err
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


def _decoded(replay: CsvReplay) -> list[tuple[str, float, object]]:
    docs = [json.loads(v) for _, v in replay.messages()]
    return [(d["stream"], d["ts"], d["value"]) for d in docs]


def test_produce_csv_reads_semicolons_and_epoch_milliseconds(tmp_path: Path) -> None:
    (tmp_path / "pump.csv").write_text("timestamp;value\n1396310400000;1.5\n1396310700000;2\n")
    replay = CsvReplay([tmp_path / "pump.csv"])
    assert replay.count() == 2
    assert _decoded(replay) == [("pump", 1396310400.0, 1.5), ("pump", 1396310700.0, 2.0)]


def test_produce_csv_bad_rows_stop_unless_skipped(tmp_path: Path) -> None:
    path = tmp_path / "pump.csv"
    path.write_text("timestamp,value\n1,1\n2,\n3,3\n2,4\n")
    with pytest.raises(BadRow, match=r"pump\.csv:3: empty value in column 'value'"):
        CsvReplay([path])
    replay = CsvReplay([path], skip_bad_rows=True)
    assert [b.line for b in replay.skipped] == [3, 5]
    assert _decoded(replay) == [("pump", 1.0, 1.0), ("pump", 3.0, 3.0)]


def test_produce_csv_value_columns_match_the_width(tmp_path: Path) -> None:
    path = tmp_path / "tick.csv"
    path.write_text("timestamp,price,volume\n1,2.0,300\n2,2.5,310\n")
    with pytest.raises(TableError, match=r"2 value columns \(price, volume\); expected 1"):
        CsvReplay([path])
    assert _decoded(CsvReplay([path], width=2)) == [
        ("tick", 1.0, [2.0, 300.0]),
        ("tick", 2.0, [2.5, 310.0]),
    ]


def test_the_demo_worker_uses_the_setting_for_frequent_anomalies_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from tcnad.topology.cli.up import child_env

    stack = SimpleNamespace(
        kafka_bootstrap="k:9092", redis_url="redis://r:6379/0", redis_cluster=False
    )
    monkeypatch.delenv("TCNAD_ALERT_HISTORY_WEIGHT", raising=False)
    assert child_env(stack)["TCNAD_ALERT_HISTORY_WEIGHT"] == "0.01"  # type: ignore[arg-type]
    monkeypatch.setenv("TCNAD_ALERT_HISTORY_WEIGHT", "0.002")
    assert child_env(stack)["TCNAD_ALERT_HISTORY_WEIGHT"] == "0.002"  # type: ignore[arg-type]
