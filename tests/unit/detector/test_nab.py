"""The NAB scorer: hand-worked cases and the null / perfect detectors on the real corpus.

The corpus is the copy shipped in ``tcnad.detector.lab.corpora``; these tests fail (they do
not skip) when it is missing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tcnad.detector.lab import nab
from tcnad.detector.lab.series import Series

STANDARD, LOW_FP, LOW_FN = nab.PROFILES


def tanh(x: float) -> float:
    return math.tanh(x)


# NAB's scaled sigmoid 2 / (1 + exp(5 x)) - 1 equals tanh(-2.5 x); the largest TP value
# (x = -1, a window's first row) is tanh(2.5) = 0.98661, and TPs are divided by it.
MAX_TP = tanh(2.5)


def test_scaled_sigmoid_landmarks() -> None:
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.5) == -1.0


def test_probation_is_15_percent_capped_at_750_rows() -> None:
    assert nab.probation_length(10) == 1
    assert nab.probation_length(4032) == 604
    assert nab.probation_length(5000) == 750
    assert nab.probation_length(22695) == 750


# The hand-worked file: 10 rows, probation floor(0.15 * 10) = 1 row (row 0), one window
# on rows 4..7 (width 4).
#   row 0: score 1.00, probationary -> ignored at every threshold
#   row 2: score 0.50, before any window -> FP worth -fp
#   row 5: score 0.90, in window: position -(7 - 5 + 1) / 4 = -0.75,
#          value tanh(1.875) / tanh(2.5) = 0.954045 / 0.986614 = 0.966989
#   row 6: score 0.95, in window: position -(7 - 6 + 1) / 4 = -0.5,
#          value tanh(1.25) / tanh(2.5) = 0.859793
#   row 9: score 0.80, after the window: position (9 - 7) / (4 - 1) = 2/3,
#          value -tanh(5/3) = -0.931110, times fp
#   other rows: score 0.
# Standard profile (tp 1, fp 0.11, fn 1), threshold by threshold:
#   1.1  : nothing detected, the window is missed             -> -1
#   0.95 : row 6 hits the window                              ->  0.859793
#   0.90 : row 5 is earlier, so it is the one that counts      ->  0.966989
#   0.80 : + row 9, -0.11 * 0.931110 = -0.102422               ->  0.864567
#   0.50 : + row 2, -0.11                                      ->  0.754567
# The best threshold is 0.90 with 0.966989.
HAND_SCORES = np.array([1.0, 0, 0.5, 0, 0, 0.9, 0.95, 0, 0, 0.8])
HAND_WINDOWS = ((4, 7),)
HAND_AT_090 = tanh(1.875) / MAX_TP
HAND_AT_095 = tanh(1.25) / MAX_TP
HAND_FP_ROW9 = -tanh(5.0 / 3.0)


def test_hand_worked_file_at_fixed_thresholds() -> None:
    def score(threshold: float) -> float:
        return nab.score_file(HAND_SCORES, HAND_WINDOWS, threshold, STANDARD)

    assert score(1.1) == pytest.approx(-1.0)
    assert score(0.95) == pytest.approx(HAND_AT_095)
    assert score(0.90) == pytest.approx(0.966989, abs=1e-6)
    assert score(0.80) == pytest.approx(HAND_AT_090 + 0.11 * HAND_FP_ROW9)
    assert score(0.50) == pytest.approx(0.754567, abs=1e-6)


def test_hand_worked_sweep_picks_the_best_threshold() -> None:
    wid, unit = nab.row_weights(10, HAND_WINDOWS)
    sw = nab.sweep(HAND_SCORES, wid, unit, STANDARD)
    expected = {1.1: -1.0, 0.95: HAND_AT_095, 0.9: HAND_AT_090, 0.8: 0.864567, 0.5: 0.754567}
    for threshold, value in expected.items():
        k = int(np.flatnonzero(sw.thresholds == threshold)[0])
        assert sw.scores[k] == pytest.approx(value, abs=1e-6)
    best = sw.best()
    assert sw.thresholds[best] == 0.9
    assert sw.windows_hit[best] == 1 and sw.false_positives[best] == 0


def test_reward_low_fn_doubles_the_miss() -> None:
    assert nab.score_file(HAND_SCORES, HAND_WINDOWS, 1.1, LOW_FN) == pytest.approx(-2.0)
    # low-FP doubles the FP weight: 0.9 threshold result plus 0.22 * row 9's factor.
    at_080 = nab.score_file(HAND_SCORES, HAND_WINDOWS, 0.8, LOW_FP)
    assert at_080 == pytest.approx(HAND_AT_090 + 0.22 * HAND_FP_ROW9)


def test_window_in_probation_is_not_scored() -> None:
    # 20 rows -> probation 3 rows; the window 0..2 lies inside it: neither TP nor FN.
    scores = np.zeros(20)
    assert nab.score_file(scores, ((0, 2),), 0.5, STANDARD) == 0.0


@pytest.fixture(scope="module")
def corpus() -> list[nab.LabelledSeries]:
    root = nab.default_root()
    return nab.load_corpus(root)


def test_corpus_is_complete(corpus: list[nab.LabelledSeries]) -> None:
    assert len(corpus) == 58
    assert sum(len(item.series) for item in corpus) == 365_558
    assert sum(len(item.windows) for item in corpus) == 116


def test_null_detector_scores_zero(corpus: list[nab.LabelledSeries]) -> None:
    scores = {item.name: np.full(len(item.series), 0.5) for item in corpus}
    for result in nab.evaluate(corpus, scores):
        assert result.normalised == pytest.approx(0.0, abs=1e-9)
        assert result.null == -result.profile.fn * 116


def test_perfect_detector_scores_100(corpus: list[nab.LabelledSeries]) -> None:
    scores = {}
    for item in corpus:
        s = np.zeros(len(item.series))
        s[[first for first, _ in item.windows]] = 1.0
        scores[item.name] = s
    for result in nab.evaluate(corpus, scores):
        assert result.normalised == pytest.approx(100.0)
        assert result.windows_hit == 116 and result.false_positives == 0


def test_sweep_agrees_with_direct_scoring(corpus: list[nab.LabelledSeries]) -> None:
    # The sweep (cumulative, all thresholds at once) against per-file direct scoring.
    rng = np.random.default_rng(7)
    scores = {item.name: rng.random(len(item.series)) ** 4 for item in corpus}
    for result in nab.evaluate(corpus, scores):
        direct = sum(
            nab.score_file(scores[item.name], item.windows, result.threshold, result.profile)
            for item in corpus
        )
        assert direct == pytest.approx(result.raw, abs=1e-9)


def test_bad_scores_are_rejected(corpus: list[nab.LabelledSeries]) -> None:
    scores = {item.name: np.zeros(len(item.series)) for item in corpus}
    scores[corpus[0].name] = np.full(len(corpus[0].series), 1.5)
    with pytest.raises(nab.CorpusError, match=r"\[0, 1\]"):
        nab.evaluate(corpus, scores)
    del scores[corpus[1].name]
    with pytest.raises(nab.CorpusError, match="no scores"):
        nab.evaluate(corpus, scores)


def test_window_rows_follow_nab_first_match() -> None:
    times = np.array(
        ["2014-01-01T00:00", "2014-01-01T00:05", "2014-01-01T00:05", "2014-01-01T00:10"],
        dtype="datetime64[us]",
    )
    series = Series("x", times, np.zeros(4))
    rows = nab.window_rows(
        series.timestamps, [("2014-01-01 00:05:00.000000", "2014-01-01 00:10:00")], "x"
    )
    assert rows == ((1, 3),)
    assert nab.window_labels(4, rows).tolist() == [0, 1, 1, 1]
