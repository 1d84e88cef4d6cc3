"""`tcnad bench` finds the benchmark scripts of a checkout and says so when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.topology.cli import main
from tcnad.topology.cli.lab.bench import SUITES

ROOT = Path(__file__).resolve().parents[3]


def test_every_suite_names_an_existing_script() -> None:
    for module in SUITES.values():
        assert (ROOT / "tests" / "benchmarks" / f"{module}.py").is_file(), module


def test_outside_a_checkout_it_fails_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--repo", str(tmp_path), "state"]) == 2
    assert "source checkout" in capsys.readouterr().err


def test_runs_the_script_and_passes_arguments_on() -> None:
    # --help makes the script print its usage and exit 0 without measuring anything.
    assert main(["bench", "--repo", str(ROOT), "synthetic", "--help"]) == 0
