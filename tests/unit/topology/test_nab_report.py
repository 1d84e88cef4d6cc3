"""`tcnad nab`'s breakdown of the raw score by category and its list of missed windows."""

from __future__ import annotations

import numpy as np
import pytest

from tcnad.detector.lab import nab
from tcnad.detector.lab.offline import Scored
from tcnad.detector.lab.series import Series
from tcnad.topology.cli.lab import nab as nab_cmd

STANDARD = nab.PROFILES[0]
N = 100  # rows per file; the probationary period is rows 0..14


def _item(name: str, windows: tuple[tuple[int, int], ...], score: np.ndarray) -> tuple:
    times = np.datetime64("2014-01-01T00:00", "us") + np.arange(N) * np.timedelta64(5, "m")
    series = Series(name, times, np.zeros(N))
    zeros, flags = np.zeros(N), np.zeros(N, dtype=bool)
    scored = Scored(
        lower=zeros,
        median=zeros,
        upper=zeros,
        score=score,
        tail_prob=zeros,
        severity=zeros,
        outside=flags,
        alert=flags,
        warm=flags,
        series=series,
    )
    return nab.LabelledSeries(name, series, windows), scored


def _corpus() -> tuple[list[nab.LabelledSeries], list[Scored]]:
    a = np.zeros(N)
    a[[45, 60, 85]] = [0.95, 0.9, 0.85]  # a hit, a false positive, a near miss
    b = np.zeros(N)
    b[[5, 50]] = [1.0, 0.92]  # probationary (not scored), a false positive
    c = np.zeros(N)
    c[10:16] = 0.9  # its window ends inside the probationary period; row 15 is outside it
    items = [
        _item("catA/a.csv", ((40, 49), (80, 89)), a),
        _item("catB/b.csv", (), b),
        _item("catB/c.csv", ((5, 12),), c),
    ]
    return [i for i, _ in items], [s for _, s in items]


def _files(threshold: float) -> list[nab.FileOutcome]:
    corpus, scored = _corpus()
    result = nab.ProfileResult(STANDARD, threshold, 0.0, -2.0, 2.0, 0, 2, 0)
    return nab_cmd.outcomes(corpus, [s.score for s in scored], result)


def test_file_outcome_hand_worked() -> None:
    corpus, scored = _corpus()
    got = nab.file_outcome(scored[0].score, corpus[0].windows, 0.9, STANDARD)
    assert got.windows == ((40, 49), (80, 89))
    assert got.hits == (True, False)
    # Row 45 in a 10-row window ending at row 49: position -(49 - 45 + 1) / 10 = -0.5.
    assert got.credits == (nab.scaled_sigmoid(-0.5) / nab.scaled_sigmoid(-1.0), -1.0)
    assert got.peaks == (0.95, 0.85)
    # Row 60 lies 11 rows after a 10-row window: 0.11 * scaled_sigmoid(11 / 9).
    assert got.false_positives == 1
    assert got.fp_cost == pytest.approx(STANDARD.fp * nab.scaled_sigmoid(11.0 / 9.0))
    assert got.raw == nab.score_file(scored[0].score, corpus[0].windows, 0.9, STANDARD)
    inside = nab.file_outcome(scored[2].score, corpus[2].windows, 0.9, STANDARD)
    assert inside.windows == () and inside.credits == () and inside.false_positives == 1


def test_category_table_adds_up_to_the_raw_score() -> None:
    corpus, scored = _corpus()
    table = nab_cmd.category_table(corpus, _files(0.9), 0.9).splitlines()
    rows = {line.split()[0]: line.split() for line in table[1:]}
    pairs = zip(corpus, scored, strict=True)
    raw = sum(nab.score_file(s.score, c.windows, 0.9, STANDARD) for c, s in pairs)
    # category, hit, credit/hit, near miss, outside, its cost, raw
    assert rows["all"][1] == "1/2" and rows["all"][3] == "1" and rows["all"][4] == "3"
    assert float(rows["all"][6]) == round(raw, 2)
    assert rows["catB"][1] == "0/0" and rows["catB"][2] == "-" and rows["catB"][4] == "2"
    both = float(rows["catA"][6]) + float(rows["catB"][6])
    assert both == pytest.approx(float(rows["all"][6]), abs=0.011)


def test_missed_windows_lists_each_miss_with_its_peak() -> None:
    corpus, _ = _corpus()
    lines = nab_cmd.missed_windows(corpus, _files(0.9)).splitlines()
    assert lines[1].split() == ["0.850", "80-89", "catA/a.csv"]
    assert len(lines) == 2
    # At a higher threshold the first window is missed too, listed by its peak.
    lines = nab_cmd.missed_windows(corpus, _files(0.99)).splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["0.950", "0.850"]
