"""Shipped corpora unpack once, into the cache folder, with their licence beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.detector.lab import corpora


def test_nab_unpacks_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCNAD_CACHE_DIR", str(tmp_path))
    root = corpora.unpack("nab")
    assert root.parent.parent == tmp_path
    assert (root / "labels" / "combined_windows.json").is_file()
    assert len(list((root / "data").rglob("*.csv"))) == 58
    marker = root / "labels" / "marker"
    marker.write_text("kept")
    assert corpora.unpack("nab") == root
    assert marker.read_text() == "kept"  # not extracted again
    assert [p.name for p in tmp_path.iterdir()] == [root.parent.name]  # no temporary left


def test_the_licence_ships_beside_the_archive() -> None:
    text = (corpora.HERE / "NAB-LICENSE.txt").read_text()
    assert "Numenta" in text and "Permission is hereby granted" in text


def test_an_unknown_corpus_names_the_shipped_ones() -> None:
    with pytest.raises(FileNotFoundError, match="shipped: nab"):
        corpora.archive("nope")
