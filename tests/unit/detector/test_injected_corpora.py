"""The shipped corpora built by injecting anomalies into real recordings with the 5,000-
reading cut (realheld, realfresh): NAB's layout, their stated files and windows, every
window the anomaly injected at its centre after the probationary period, and no recording
or data file of a corpus built before them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.detector.corpus_checks import (
    assert_layout,
    assert_windows_are_injected_after_probation,
    names,
    sources,
    unpacked,
)

# name: (files, windows, the corpora built before it)
CORPORA = {
    "realheld": (28, 53, ("realinject",)),
    "realfresh": (26, 57, ("realinject", "realheld")),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module", params=sorted(CORPORA))
def corpus(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def root(corpus: str, cache: Path) -> Path:
    return unpacked(corpus, cache)


def test_it_unpacks_with_the_stated_files_and_windows(corpus: str, root: Path) -> None:
    files, windows, _ = CORPORA[corpus]
    assert_layout(root, files=files, windows=windows)


def test_every_window_is_an_injected_anomaly_after_probation(root: Path) -> None:
    assert_windows_are_injected_after_probation(root)


def test_no_recording_is_one_of_an_earlier_corpus(corpus: str, root: Path, cache: Path) -> None:
    for other in CORPORA[corpus][2]:
        earlier = unpacked(other, cache)
        assert not sources(root) & sources(earlier), other
        assert not names(root) & names(earlier), other
