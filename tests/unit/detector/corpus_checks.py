"""Checks shared by the tests of the shipped corpora built with injected anomalies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import PROBATION_PERCENT, load_corpus

KINDS = {"spike", "level_shift", "variance", "drift", "flatline", "season_break"}


def unpacked(name: str, cache: Path) -> Path:
    """Corpus ``name`` unpacked into ``cache`` (not the user's cache folder)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TCNAD_CACHE_DIR", str(cache))
    try:
        top: Path = corpora.unpack(name)
    finally:
        mp.undo()
    return top


def assert_layout(root: Path, files: int, windows: int) -> None:
    """``files`` files of 700-5,000 readings in the six kinds' categories, ``windows`` windows."""
    corpus = load_corpus(root)
    assert len(corpus) == files
    assert sum(len(item.windows) for item in corpus) == windows
    assert {item.name.split("/")[0] for item in corpus} == KINDS
    assert len(list((root / "data").rglob("*.csv"))) == files
    assert all(700 <= len(item.series) <= 5000 for item in corpus)


def assert_windows_are_injected_after_probation(root: Path) -> None:
    """Every window is NAB's window of the anomaly injected at its centre, of the file's
    kind, after the probationary period; windows in order and never overlapping; readings
    in time order."""
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


def sources(top: Path) -> set[str]:
    """The recordings the corpus's anomalies were injected into."""
    made = json.loads((top / "labels" / "injected.json").read_text())
    return {a["source"] for anomalies in made.values() for a in anomalies}


def names(top: Path) -> set[str]:
    """The corpus's file names, without their category."""
    return {p.stem for p in (top / "data").rglob("*.csv")}
