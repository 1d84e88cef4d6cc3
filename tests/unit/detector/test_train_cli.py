"""`tcnad train` is a thin argparse layer over detector.train."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.detector.checkpoint import load_checkpoint
from tcnad.topology.cli import main


def test_train_command_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "m"
    rc = main(
        [
            "train", "--checkpoint", str(out), "--synthetic", "4", "--synthetic-length", "200",
            "--channels", "4", "--dilations", "1,2", "--quantiles", "0.05,0.5,0.95",
            "--window", "48", "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "2",
            "--device", "cpu", "--seed", "3",
        ]
    )  # fmt: skip
    assert rc == 0
    spec, _, meta = load_checkpoint(out)
    assert spec.dilations == (1, 2) and meta["config"]["seed"] == 3


def test_train_command_reports_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        ["train", "--checkpoint", str(tmp_path / "m"), "--quantiles", "0.1,0.9", "--synthetic", "2"]
    )
    assert rc == 2
    assert "median" in capsys.readouterr().err


def test_train_command_names_a_bad_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d"
    data.mkdir()
    rows = "".join(f"{1396310400 + 300 * i};{i % 7}\n" for i in range(40))
    (data / "s.csv").write_text("timestamp;value\n" + rows.replace(";3\n", ";\n", 1))
    argv = ["train", "--checkpoint", str(tmp_path / "m"), "--data", str(data)]
    assert main(argv) == 1
    assert f"{data / 's.csv'}:5: empty value in column 'value'" in capsys.readouterr().err
