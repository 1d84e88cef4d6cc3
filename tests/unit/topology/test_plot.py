"""`tcnad score` and `tcnad plot` from the command line, with a stand-in engine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tcnad.topology import cli
from tcnad.topology.cli.lab import plot as plot_cmd
from tcnad.topology.cli.lab import score as score_cmd
from tests.unit.detector.test_offline import FakeEngine

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def nab_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-file NAB-shaped corpus and a fake engine behind load_engine."""
    rng = np.random.default_rng(3)
    for cat, name, n in [("catA", "a.csv", 300), ("artificialNoAnomaly", "b.csv", 200)]:
        d = tmp_path / "nab" / "data" / cat
        d.mkdir(parents=True)
        times = np.datetime64("2014-01-01T00:00") + np.arange(n) * np.timedelta64(5, "m")
        values = rng.normal(size=n).tolist()
        values[150] += 30.0
        lines = [f"{str(t).replace('T', ' ')}:00,{v!r}" for t, v in zip(times, values, strict=True)]
        (d / name).write_text("timestamp,value\n" + "\n".join(lines) + "\n")
    windows = {
        "catA/a.csv": [["2014-01-01 12:00:00.000000", "2014-01-01 13:00:00.000000"]],
        "artificialNoAnomaly/b.csv": [],  # the clean category: the band-miss report
    }
    (tmp_path / "nab" / "labels").mkdir()
    (tmp_path / "nab" / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    monkeypatch.setattr(score_cmd, "load_engine", lambda model, device, cap: FakeEngine(cap))
    monkeypatch.setattr(plot_cmd, "load_engine", lambda model, device, cap: FakeEngine(cap))
    return tmp_path / "nab"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_score_writes_one_csv_per_input(nab_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli.main(["score", str(nab_copy / "data"), "--out", str(out)]) == 0
    rows = _rows(out / "catA" / "a.csv")
    assert len(rows) == 300
    assert list(rows[0]) == [
        "timestamp",
        "value",
        "anomaly_score",
        "lower",
        "median",
        "upper",
        "alert",
    ]
    assert rows[0]["lower"] == ""  # no band before the first forecast
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(range(300), key=scores.__getitem__) == 150  # the injected spike
    assert rows[150]["alert"] == "1"


def test_score_nab_layout_has_labels(nab_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    argv = [
        "score",
        str(nab_copy / "data"),
        "--out",
        str(out),
        "--nab-layout",
        "--detector-name",
        "fake",
    ]
    assert cli.main(argv) == 0
    rows = _rows(out / "fake" / "catA" / "fake_a.csv")
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "label"]
    labelled = [i for i, r in enumerate(rows) if r["label"] == "1"]
    assert labelled == list(range(144, 157))  # 12:00 .. 13:00 at 5-minute steps
    assert {r["label"] for r in _rows(out / "fake" / "artificialNoAnomaly" / "fake_b.csv")} == {"0"}


def test_score_missing_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["score", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_plot_scored_file_with_labels(nab_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli.main(["score", str(nab_copy / "data"), "--out", str(out)])
    png = tmp_path / "a.png"
    windows = nab_copy / "labels" / "combined_windows.json"
    argv = ["plot", str(out / "catA" / "a.csv"), "--png", str(png), "--labels", str(windows)]
    assert cli.main(argv) == 0
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_plot_raw_file_is_scored_first(nab_copy: Path, tmp_path: Path) -> None:
    png = tmp_path / "b.png"
    argv = ["plot", str(nab_copy / "data" / "catA" / "a.csv"), "--png", str(png), "--labels"]
    assert cli.main(argv) == 0
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_plot_rejects_a_file_without_labels_entry(
    nab_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "zzz.csv"
    other.write_text("timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n")
    windows = nab_copy / "labels" / "combined_windows.json"
    argv = ["plot", str(other), "--png", str(tmp_path / "z.png"), "--labels", str(windows)]
    assert cli.main(argv) == 1
    assert "match" in capsys.readouterr().err


def test_plot_rows_crop_the_picture(nab_copy: Path, tmp_path: Path) -> None:
    png = tmp_path / "c.png"
    argv = ["plot", str(nab_copy / "data" / "catA" / "a.csv"), "--png", str(png), "--labels"]
    assert cli.main([*argv, "--rows", "100:200"]) == 0
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert cli.main([*argv, "--rows", "abc"]) == 1


def test_crop_clips_windows() -> None:
    n = 10
    trace = plot_cmd.Trace(
        timestamps=np.arange(n).astype("datetime64[m]").astype("datetime64[us]"),
        value=np.arange(n, dtype=float),
        score=np.zeros(n),
        lower=np.zeros(n),
        median=np.zeros(n),
        upper=np.zeros(n),
        alert=np.zeros(n, dtype=bool),
    )
    cut, windows = plot_cmd.crop(trace, ((1, 3), (5, 8)), "4:7")
    assert cut.value.tolist() == [4.0, 5.0, 6.0]
    assert windows == ((1, 2),)


def test_nab_command_prints_scores_and_band_miss(
    nab_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from tcnad.topology.cli.lab import nab as nab_cmd

    def engine(model: str, device: str, cap: int, ring_dtype: str) -> FakeEngine:
        assert ring_dtype == "float8_e5m2"  # the worker's default, unless TCNAD_RING_DTYPE says
        fake = FakeEngine(cap)
        fake.policy = SimpleNamespace(target_miss_rate=0.01)  # type: ignore[attr-defined]
        return fake

    monkeypatch.setattr(nab_cmd, "load_engine", engine)
    monkeypatch.delenv("TCNAD_RING_DTYPE", raising=False)
    assert cli.main(["nab", "--data", str(nab_copy), "--synthetic", "0"]) == 0
    out = capsys.readouterr().out
    assert "standard" in out and "reward_low_FP_rate" in out and "reward_low_FN_rate" in out
    assert "band-miss" in out
