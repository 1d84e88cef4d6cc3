"""``tests/benchmarks/judge``'s ``compare`` over several caches a side: pairs in order, each
corpus judged by the mean of its pairs' changes, NAB reported apart as a veto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks import judge

# standard score of each (cache, corpus); a cache stands for one model's forecasts
SCORES = {
    ("base0", "x"): 50.0,
    ("base1", "x"): 52.0,
    ("cand0", "x"): 51.0,
    ("cand1", "x"): 52.2,  # pair changes +1.0, +0.2: mean +0.6
    ("base0", "y"): 70.0,
    ("base1", "y"): 70.0,
    ("cand0", "y"): 68.5,
    ("cand1", "y"): 70.9,  # -1.5 (alone a loss over 1), +0.9: mean -0.3
    ("base0", "nab"): 60.0,
    ("base1", "nab"): 59.0,
    ("cand0", "nab"): 59.0,
    ("cand1", "nab"): 59.5,  # -1.0, +0.5: mean -0.25
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    def makers(
        fresh: bool, nab: bool, third: bool = False, held_out: bool = False
    ) -> dict[str, Any]:
        return {name: None for name in ("x", "y", *(("nab",) if nab else ()))}

    monkeypatch.setattr(judge, "_makers", makers)
    monkeypatch.setattr(judge, "_load", lambda cache, name, make: (cache.name, name))
    monkeypatch.setattr(judge, "judge", lambda c, policy: ([SCORES[c], 0.0, 0.0], 1, 1, 0, 0))


def _means(out: str) -> dict[str, str]:
    return {
        line.split()[0]: line.split()[-1]
        for line in out.splitlines()
        if "mean over 2 pairs" in line
    }


def test_each_corpus_is_judged_by_the_mean_of_its_pairs(
    fake: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("cand0", "cand1"):
        for corpus in ("x", "y", "nab"):
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / f"{corpus}.pkl").touch()
    judge.compare(
        [tmp_path / "base0", tmp_path / "base1"],
        [],
        fresh=False,
        nab=True,
        againsts=[tmp_path / "cand0", tmp_path / "cand1"],
    )
    out = capsys.readouterr().out
    assert _means(out) == {"x": "+0.60", "y": "-0.30", "nab": "-0.25"}
    assert "x #1" in out and "y #2" in out
    verdict = out.strip().splitlines()[-1]
    # the mean of the means is +0.15 (< 0.3); y's -1.5 on one pair alone does not count
    assert verdict.startswith("mean +0.15, worst -0.30 over 2 corpora: fails")
    assert verdict.endswith("NAB -0.25 (veto)")


def test_the_sides_must_have_as_many_caches(fake: None, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="2 caches but 1 --against"):
        judge.compare([tmp_path / "a", tmp_path / "b"], [], False, False, [tmp_path / "c"])
