"""Scoring on synthetic forecasts whose true distribution is known."""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import numpy as np
import pytest

from tcnad.detector.errors import SpecError
from tcnad.detector.scoring import (
    LEVEL_WINDOW,
    SEASON_BINS,
    AlertPolicy,
    count_scale_of,
    from_count_scale,
    level_size,
    new_state,
    score_batch,
    scoring_layout,
    season_size,
    state_size,
    tail_probability,
)

LEVELS = np.array([0.005, 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975, 0.995])
GAUSS = np.array([NormalDist().inv_cdf(p) for p in LEVELS])


def _run(policy: AlertPolicy, obs: np.ndarray, width: float) -> tuple[list[object], np.ndarray]:
    """Score a (T, B) series of observations against N(0, width^2) forecasts."""
    state = new_state(1, obs.shape[1])
    pending = np.broadcast_to(GAUSS * width, (obs.shape[1], 1, 9)).copy()
    outs = []
    for t in range(obs.shape[0]):
        out, state = score_batch(policy, LEVELS, pending, obs[t][:, None], state)
        outs.append(out)
    return outs, state


def test_calibration_reaches_target_miss_rate_from_a_too_narrow_band() -> None:
    policy = AlertPolicy(target_miss_rate=0.01, calibration_gain=0.05, max_scale=8.0)
    obs = np.random.default_rng(0).normal(0.0, 1.0, size=(5000, 8))
    outs, _ = _run(policy, obs, width=0.4)  # band 2.5x too narrow
    late = np.array([o.outside for o in outs[2000:]])  # type: ignore[attr-defined]
    assert 0.006 < late.mean() < 0.016


def test_tail_probability_matches_gaussian_inside_band() -> None:
    cal = np.broadcast_to(GAUSS, (5, 9))
    obs = np.array([0.0, 0.6744897, -1.959964, 2.5758293, 5.0])
    p = tail_probability(cal, LEVELS, obs)
    assert np.allclose(p[:4], [1.0, 0.5, 0.05, 0.01], atol=1e-6)
    assert 0 < p[4] < 0.01 * math.exp(-1)


def test_warmup_cooldown_and_one_alert_per_incident() -> None:
    policy = AlertPolicy(
        warmup=50,
        cooldown=10,
        calibrate_after=10**6,
        alert_score=0.0,
        repeat_factor=0.0,
        count_scale=False,  # whole-number readings: keep the band on their own scale
    )
    obs = np.zeros((200, 1))
    obs[20] = 10.0  # during warm-up: no alert
    obs[100:130] = 10.0  # a level shift lasting 30 readings: one alert
    obs[135] = -10.0  # within cooldown of the shift: same incident
    obs[170] = 10.0  # a new incident
    outs, _ = _run(policy, obs, width=1.0)
    alerts = [t for t, o in enumerate(outs) if o.alert[0]]  # type: ignore[attr-defined]
    assert alerts == [100, 170]
    assert outs[20].outside[0] and not outs[20].warm[0]  # type: ignore[attr-defined]
    assert outs[100].severity[0] == pytest.approx((10 - GAUSS[-1]) / (2 * GAUSS[-1]))  # type: ignore[attr-defined]


def _final_scores(policy: AlertPolicy, history: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Every stream sees ``history`` (T,), then its own last reading; N(0, 1) forecasts."""
    obs = np.concatenate([np.repeat(history[:, None], last.size, axis=1), last[None, :]])
    outs, _ = _run(policy, obs, width=1.0)
    return np.asarray(outs[-1].score)  # type: ignore[attr-defined]


def test_score_rises_with_distance_and_is_bounded() -> None:
    policy = AlertPolicy(warmup=100, echo_horizon=0, range_tolerance=0)
    history = np.random.default_rng(1).normal(size=400)
    last = np.array([0.0, 2.0, 3.0, 4.0, 6.0, 10.0, 50.0])
    scores = _final_scores(policy, history, last)
    assert scores[0] == 0.0
    assert (np.diff(scores) > 0).all()
    assert (scores >= 0).all() and (scores < 1).all()


def test_score_is_relative_to_the_streams_own_surprise() -> None:
    # Same final deviation; one stream's forecasts were always good, the other's always
    # rough (readings 3x wider than forecast, calibration off): the rough one scores lower.
    policy = AlertPolicy(warmup=100, echo_horizon=0, range_tolerance=0, calibrate_after=10**6)
    rng = np.random.default_rng(2)
    obs = np.stack([rng.normal(size=500), 3.0 * rng.normal(size=500)], axis=1)
    obs[-1] = 6.0
    outs, _ = _run(policy, obs, width=1.0)
    calm, rough = outs[-1].score  # type: ignore[attr-defined]
    assert calm > 0.3 and rough < 0.5 * calm


def test_no_score_before_warmup() -> None:
    obs = np.zeros((60, 1))
    obs[30] = 40.0
    outs, _ = _run(AlertPolicy(warmup=50), obs, width=1.0)
    assert all(o.score[0] == 0.0 for o in outs[:50])  # type: ignore[attr-defined]


def test_a_value_beyond_the_seen_range_is_novel() -> None:
    # A forecast that follows the level would call 12 ordinary; the range says otherwise.
    policy = AlertPolicy(warmup=10, echo_horizon=0, range_tolerance=0.05, novelty_score=0.9)
    history = np.tile([0.0, 10.0], 50)
    scores = _final_scores(policy, history, np.array([10.4, 10.6, 12.0, -0.6]))
    off = _final_scores(dataclasses.replace(policy, range_tolerance=0), history, np.array([12.0]))
    assert scores[0] < 0.9 and scores[1] >= 0.9 and scores[2] >= 0.9 and scores[3] >= 0.9
    assert off[0] < 0.9


def test_a_climb_beyond_the_range_is_novel_once_per_run() -> None:
    # 10.6, 12 and 13.5 each set a new extreme: one excursion, novel at its first reading;
    # after a reading back inside the range, the next new extreme is novel again.
    policy = AlertPolicy(warmup=10, echo_horizon=0, range_tolerance=0.05, novelty_score=0.9)
    history = np.tile([0.0, 10.0], 50)
    obs = np.r_[history, 10.6, 12.0, 13.5, 5.0, 14.5][:, None]

    def last_five(p: AlertPolicy) -> np.ndarray:
        return np.array([o.score[0] for o in _run(p, obs, width=1.0)[0][-5:]])  # type: ignore[attr-defined]

    once = last_five(policy)
    each = last_five(dataclasses.replace(policy, novelty_once=False))
    assert once[0] >= 0.9 and once[1] < 0.9 and once[2] < 0.9 and once[4] >= 0.9
    assert each[0] >= 0.9 and each[1] >= 0.9 and each[2] >= 0.9 and each[4] >= 0.9
    assert once[3] == each[3] < 0.9


def _level_scores(policy: AlertPolicy, obs: np.ndarray) -> np.ndarray:
    """Scores of a series against a forecast so wide that the likelihood stays near 0."""
    frozen = dataclasses.replace(policy, warmup=10, echo_horizon=0, calibrate_after=10**6)
    outs, _ = _run(frozen, obs[:, None], width=100.0)
    return np.array([o.score[0] for o in outs])  # type: ignore[attr-defined]


def test_a_plateau_at_a_new_level_is_novel_once() -> None:
    # Readings anywhere in [0, 10]; then a stretch in [7, 10]: no single reading leaves the
    # range, but the average of the last LEVEL_WINDOW readings does, once.
    rng = np.random.default_rng(5)
    obs = np.r_[rng.uniform(0.0, 10.0, 600), rng.uniform(7.0, 10.0, 80)]
    obs[:2] = [0.0, 10.0]
    policy = AlertPolicy()
    on = _level_scores(policy, obs)
    off = _level_scores(dataclasses.replace(policy, level_novelty=False), obs)
    assert off.max() < 0.5
    hits = np.flatnonzero(on >= policy.novelty_score)
    late = hits[hits >= 400]  # (the young stream's level is still learning its range)
    assert len(late) == 1 and 600 < late[0] < 600 + LEVEL_WINDOW
    assert np.array_equal(np.delete(on, hits), np.delete(off, hits))


def test_new_levels_count_only_where_the_level_has_been_bounded() -> None:
    # Regimes at 0, 10, -20, 40, ..., 640 for 100 readings each: each takes the average to a
    # new extreme (and its first reading is novel as a value). A stream that keeps moving
    # to new levels makes them routine: with level_gate 0.5 a new level counts only if the
    # level set no new extreme in the later half of the stream's life so far, never here;
    # with gate 0 every regime's from the third on does (the young stream's level range is
    # still close to its noise at the first step).
    rng = np.random.default_rng(6)
    obs = np.concatenate(
        [k + rng.normal(0.0, 0.5, 100) for k in (0, 10, -20, 40, -80, 160, -320, 640)]
    )
    policy = AlertPolicy()
    off = _level_scores(dataclasses.replace(policy, level_novelty=False), obs)

    def level_hits(gate: float) -> np.ndarray:
        on = _level_scores(dataclasses.replace(policy, level_gate=gate), obs)
        return np.flatnonzero((on >= policy.novelty_score) & (off < policy.novelty_score))

    every, gated = level_hits(0.0), level_hits(0.5)
    for k in range(2, 8):
        assert ((every > 100 * k) & (every < 100 * k + LEVEL_WINDOW)).sum() == 1
    assert not (gated >= 100).any()


def test_level_gate_is_checked() -> None:
    with pytest.raises(SpecError, match="level_gate"):
        AlertPolicy(level_gate=1.5)


def test_an_incident_scores_once_then_decays() -> None:
    policy = AlertPolicy(warmup=50, echo_horizon=20, range_tolerance=0)
    obs = np.random.default_rng(3).normal(size=(400, 1)) * 0.3
    obs[[200, 205, 380]] = 8.0  # 205 is an echo of 200; 380 is 9 horizons later
    outs, _ = _run(policy, obs, width=1.0)
    scores = np.array([o.score[0] for o in outs])  # type: ignore[attr-defined]
    assert scores[200] > 0.3 and scores[205] == 0.0
    assert scores[380] > 0.3


def test_state_layout() -> None:
    bins = SEASON_BINS
    assert season_size(2) == 2 + bins + 8 + 4 * bins
    assert level_size(2) == LEVEL_WINDOW * 2 + 1 + 4 + 2
    assert state_size(2) == 16 + season_size(2) + level_size(2) + 2 + 1 + 5
    st = new_state(2, batch=3)
    # [count, calm, run, log_scale x2, s_mean, s_var, echo, low x2, high x2, last x2,
    #  repeats, longest | last time, interval, bin counts, recent x2, size x2, mean x2,
    #  spread x2, bin levels, bin spreads | recent readings, seen, level low x2, level
    #  high x2, last new level, level beyond | count x2, novel | open, partition, offset,
    #  at, severity]
    assert st.shape == (3, state_size(2))
    level = st[:, 16 + season_size(2) : 16 + season_size(2) + level_size(2)]
    w = LEVEL_WINDOW * 2
    assert (level[:, : w + 1] == 0.0).all() and np.isnan(level[:, w + 1 : w + 5]).all()
    assert (level[:, w + 5] == -1.0).all() and (level[:, w + 6] == 0.0).all()
    assert (st[:, 5:7] == 1.0).all() and (st[:, 7] == 0.0).all() and np.isnan(st[:, 8:14]).all()
    assert (st[:, 14:16] == 0.0).all()
    assert (st[:, -8:-6] == 1.0).all() and (st[:, -6] == 0.0).all()
    assert (st[:, -5] == 0.0).all() and np.isnan(st[:, -4:-2]).all() and (st[:, -2:] == 0).all()
    season = st[:, 16 : 16 + season_size(2)]
    assert np.isnan(season[:, :2]).all() and (season[:, 2 : 2 + bins] == 0.0).all()
    scalars = season[:, 2 + bins : 2 + bins + 8]
    assert (scalars[:, :2] == 1.0).all() and (scalars[:, 2:4] == 0.0).all()
    assert np.isnan(scalars[:, 4:6]).all() and (scalars[:, 6:] == 0.0).all()
    assert (season[:, 2 + bins + 8 :] == 0.0).all()


def test_no_band_yet_gives_nan_band_and_no_alert() -> None:
    pending = np.full((2, 1, 9), np.nan)
    out, state = score_batch(
        AlertPolicy(warmup=0), LEVELS, pending, np.ones((2, 1)), new_state(1, 2)
    )
    assert np.isnan(out.lower).all() and not out.alert.any() and (out.score == 0).all()
    assert (state[:, 0] == 0).all()


def test_invalid_policy() -> None:
    with pytest.raises(SpecError, match="season"):
        AlertPolicy(season_rate=0.0)
    with pytest.raises(SpecError, match="season"):
        AlertPolicy(season_gate=1.0)
    with pytest.raises(SpecError):
        AlertPolicy(target_miss_rate=0.0)
    with pytest.raises(SpecError):
        AlertPolicy(min_scale=2.0)


def test_alerts_need_an_anomaly_score() -> None:
    # The same 6-sigma reading alerts in a stream whose forecasts were good and not in one
    # whose readings were always 3x wider than forecast; alert_score=0 alerts in both.
    rng = np.random.default_rng(4)
    obs = np.stack([rng.normal(size=400), 3.0 * rng.normal(size=400)], axis=1)
    obs[-1] = 6.0
    base = AlertPolicy(warmup=100, calibrate_after=10**6, cooldown=0, echo_horizon=0)
    outs, _ = _run(base, obs, width=1.0)
    assert outs[-1].alert.tolist() == [True, False]  # type: ignore[attr-defined]
    outs, _ = _run(dataclasses.replace(base, alert_score=0.0), obs, width=1.0)
    assert outs[-1].alert.tolist() == [True, True]  # type: ignore[attr-defined]


def test_a_stuck_value_is_novel_once_and_alerts() -> None:
    # Noise never repeats a value; then the reading sticks for 20 readings.
    policy = AlertPolicy(warmup=50, range_tolerance=0, novelty_score=0.95)
    obs = np.random.default_rng(6).normal(size=(300, 1))
    obs[250:270] = obs[249]
    outs, _ = _run(policy, obs, width=1.0)
    scores = np.array([o.score[0] for o in outs])  # type: ignore[attr-defined]
    alerts = [t for t, o in enumerate(outs) if o.alert[0]]  # type: ignore[attr-defined]
    assert scores[252] >= 0.95  # the third repeat crosses max(2 x longest run (0), 2)
    assert (scores[253:270] < 0.95).all()  # once per run
    assert 252 in alerts
    off, _ = _run(dataclasses.replace(policy, repeat_factor=0.0), obs, width=1.0)
    assert off[252].score[0] < 0.95  # type: ignore[attr-defined]


def _daily(days: int, per_day: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A daily cycle with noise: values ``(T,)`` and epoch seconds ``(T,)``."""
    t = np.arange(days * per_day)
    times = 1_600_000_000.0 + t * (86_400.0 / per_day)
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * t / per_day) + rng.normal(0, 0.05, t.size), times


def _run_timed(
    policy: AlertPolicy, obs: np.ndarray, times: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and alerts of one stream against a wide fixed band (nothing leaves it)."""
    state = new_state(1, 1)
    pending = (GAUSS * 100.0)[None, None, :]
    scores, alerts = [], []
    for i, x in enumerate(obs):
        t = None if times is None else times[i : i + 1]
        out, state = score_batch(policy, LEVELS, pending, np.array([[x]]), state, t)
        assert not out.outside[0]
        scores.append(out.score[0])
        alerts.append(out.alert[0])
    return np.array(scores), np.array(alerts)


def test_daily_pattern_scores_a_flat_half_day_inside_the_band() -> None:
    per_day = 96
    obs, times = _daily(10, per_day, seed=0)
    start = 8 * per_day + per_day // 8
    obs[start : start + per_day // 2] = obs[start]  # the value held for half a day
    policy = AlertPolicy(calibrate_after=10**6)
    scores, alerts = _run_timed(policy, obs, times)
    before = scores[4 * per_day : start]
    assert before.max() < 0.3  # days like the others: low scores
    assert scores[start : start + per_day // 2].max() >= policy.alert_score
    first = int(np.flatnonzero(alerts)[0])
    assert start <= first < start + per_day // 4 and alerts.sum() == 1


def test_daily_pattern_needs_times_and_a_daily_pattern() -> None:
    per_day = 96
    obs, times = _daily(10, per_day, seed=1)
    start = 8 * per_day
    obs[start : start + per_day // 2] = obs[start]
    # no stuck-value rule, no recent-level novelty (a held value is a level)
    policy = AlertPolicy(calibrate_after=10**6, repeat_factor=0.0, level_novelty=False)
    without, _ = _run_timed(policy, obs, None)  # no times: the likelihood path only
    off, _ = _run_timed(dataclasses.replace(policy, season_half=0.0), obs, times)
    assert np.array_equal(without, off)
    assert without[start : start + per_day // 2].max() < 0.1
    # white noise has no daily pattern: holding a value there is not off-pattern
    noise = np.random.default_rng(2).normal(size=obs.size)
    noise[start : start + per_day // 2] = noise[start]
    scores, _ = _run_timed(policy, noise, times)
    assert scores[start : start + per_day // 2].max() < 0.1


def test_unknown_times_leave_the_daily_profile_alone() -> None:
    obs, times = _daily(1, 48, seed=3)
    policy = AlertPolicy()
    state = new_state(1, 1)
    pending = GAUSS[None, None, :].copy()
    for i in range(24):
        _, state = score_batch(
            policy, LEVELS, pending, obs[i : i + 1, None], state, times[i : i + 1]
        )
    season = slice(12, 12 + season_size(1))
    _, after = score_batch(policy, LEVELS, pending, np.array([[0.5]]), state, np.array([np.nan]))
    assert np.array_equal(after[:, season], state[:, season])
    _, after = score_batch(policy, LEVELS, pending, np.array([[0.5]]), state, None)
    assert np.array_equal(after[:, season], state[:, season])


def test_count_scale_is_monotone_and_inverted() -> None:
    x = np.array([-50.0, -1.0, 0.0, 0.5, 1.0, 2.0, 10.0, 1e6])
    y = count_scale_of(x)
    assert y[2] == 0.0 and (np.diff(y) > 0).all()
    assert np.allclose(from_count_scale(y), x, rtol=1e-12, atol=1e-9)
    # Poisson counts: the spread no longer grows with the level.
    rng = np.random.default_rng(0)
    spreads = [count_scale_of(rng.poisson(lam, 20_000).astype(float)).std() for lam in (20, 2000)]
    assert spreads[0] == pytest.approx(spreads[1], rel=0.05)


def test_count_scale_leaves_other_readings_alone() -> None:
    """Readings that are not all non-negative integers score the same with it on or off."""
    obs = np.random.default_rng(3).normal(5.0, 1.0, size=(400, 4))
    obs[:, 1] = np.round(obs[:, 1])  # whole numbers...
    obs[0, 1] = 4.5  # ...after a first fraction
    obs[:, 2] = -np.abs(np.round(obs[:, 2]))  # negative whole numbers
    obs[300, 3] = 40.0
    on, _ = _run(AlertPolicy(warmup=100), obs, width=1.0)
    off, _ = _run(AlertPolicy(warmup=100, count_scale=False), obs, width=1.0)
    for a, b in zip(on, off, strict=True):
        for k in ("score", "lower", "upper", "alert"):
            assert np.array_equal(getattr(a, k), getattr(b, k)), k


def test_counts_are_scored_on_the_square_root_scale_until_a_fraction_arrives() -> None:
    policy = AlertPolicy(warmup=50, calibrate_after=10**6, echo_horizon=0.0)
    rng = np.random.default_rng(5)
    obs = rng.poisson(30.0, size=(300, 2)).astype(float)
    obs[200, 1] = 31.5  # stream 1 stops being a count here
    state = new_state(1, 2)
    quantiles = np.array([NormalDist(30.0, 30**0.5).inv_cdf(p) for p in LEVELS])
    pending = np.broadcast_to(quantiles, (2, 1, 9)).copy()
    for t in range(300):
        times = np.full(2, 1.6e9 + 300.0 * t)
        out, state = score_batch(policy, LEVELS, pending, obs[t][:, None], state, times)
        # The band comes back on the readings' own scale: at width scale 1, the forecast.
        assert np.allclose(out.lower[:, 0], quantiles[0]) and np.allclose(
            out.upper[:, 0], quantiles[-1]
        )
    assert list(state[:, scoring_layout(1).field("counts", "is_count")][:, 0]) == [1.0, 0.0]
    # Its range is back on its own scale, exactly; its daily profile started afresh.
    low, high = state[:, 7], state[:, 8]
    assert low[1] == obs[:, 1].min() and high[1] == obs[:, 1].max()
    assert low[0] == pytest.approx(count_scale_of(obs[:, 0].min()))
    assert high[0] == pytest.approx(count_scale_of(obs[:, 0].max()))
    bin_counts = state[:, 12 + 2 : 12 + 2 + SEASON_BINS].sum(axis=1)
    assert list(bin_counts) == [300.0, 100.0]
    # So did its recent level: it has seen the 100 readings since, on their own scale.
    level = state[:, 12 + season_size(1) : 12 + season_size(1) + level_size(1)]
    assert list(level[:, LEVEL_WINDOW]) == [300.0, 100.0]
    level_low, level_high = level[:, LEVEL_WINDOW + 1], level[:, LEVEL_WINDOW + 2]
    scaled = count_scale_of(obs[:, 0])
    assert scaled.min() <= level_low[0] <= level_high[0] <= scaled.max()
    assert obs[200:, 1].min() <= level_low[1] <= level_high[1] <= obs[200:, 1].max()


def test_the_count_flag_is_per_value_in_a_stream_of_several() -> None:
    """One stream, two values: a count and a measurement. Only the count's range lives on
    the square-root scale; the band of each comes back on its own scale."""
    policy = AlertPolicy(warmup=50, calibrate_after=10**6)
    rng = np.random.default_rng(8)
    obs = np.stack([rng.poisson(12.0, 200), rng.normal(12.0, 2.0, 200)], axis=1).astype(float)
    state = new_state(2, 1)
    quantiles = np.array([NormalDist(12.0, 12**0.5).inv_cdf(p) for p in LEVELS])
    pending = np.broadcast_to(quantiles, (1, 2, 9)).copy()
    for t in range(200):
        out, state = score_batch(policy, LEVELS, pending, obs[t][None, :], state)
        assert np.allclose(out.lower[0], quantiles[0]) and np.allclose(out.upper[0], quantiles[-1])
    assert list(state[0, scoring_layout(2).field("counts", "is_count")]) == [1.0, 0.0]
    lo_at = 6 + 2  # 6 + N: the range's lows, then its highs
    low, high = state[0, lo_at : lo_at + 2], state[0, lo_at + 2 : lo_at + 4]
    assert low[0] == pytest.approx(count_scale_of(obs[:, 0].min()))
    assert high[0] == pytest.approx(count_scale_of(obs[:, 0].max()))
    assert (low[1], high[1]) == (obs[:, 1].min(), obs[:, 1].max())
