"""The scoring's parts: their doctests, the typed stats layout and its migration, and what an
alert says (which parts fired, in which direction) and how it ranks."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import pkgutil
from statistics import NormalDist

import numpy as np
import pytest

from tcnad.detector import scoring
from tcnad.detector.result import ABOVE, BELOW, FLAT
from tcnad.detector.scoring import AlertPolicy, new_state, score_batch, scoring_layout
from tcnad.detector.scoring.layout import StatsLayout
from tcnad.detector.scoring.policy import GROUPS

LEVELS = np.array([0.005, 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975, 0.995])
GAUSS = np.array([NormalDist().inv_cdf(p) for p in LEVELS])
MODULES = [m.name for m in pkgutil.iter_modules(scoring.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_every_scoring_module_run(name: str) -> None:
    module = importlib.import_module(f"tcnad.detector.scoring.{name}")
    got = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert got.failed == 0
    if name not in ("__init__", "combine", "policy"):
        assert got.attempted > 0, f"{name} has no example"


def test_every_policy_field_belongs_to_a_group_and_overrides_reach_it() -> None:
    policy = AlertPolicy()
    grouped = set()
    for name in GROUPS:
        grouped |= {f.name for f in dataclasses.fields(getattr(policy, name))}
    assert {f.name for f in dataclasses.fields(AlertPolicy)} == grouped
    changed = dataclasses.replace(policy, z_half=3.0, season_gate=0.2, warmup=7)
    assert changed.likelihood.z_half == 3.0 and changed.daily.season_gate == 0.2
    assert changed.incident.warmup == 7 and policy.likelihood.z_half == 8.0


def test_the_layout_puts_the_slices_end_to_end_with_their_fields() -> None:
    lay = scoring_layout(2)
    assert lay.key.split(",") == [f"{s.name}@{s.version}" for s in scoring.SLICES]
    starts = [lay.at(s.name).start for s in scoring.SLICES]
    stops = [lay.at(s.name).stop for s in scoring.SLICES]
    assert starts[0] == 0 and starts[1:] == stops[:-1] and stops[-1] == lay.size
    assert (
        lay.size
        == scoring.state_size(2)
        == 16 + scoring.season_size(2) + scoring.level_size(2) + 3 + 5
    )
    assert lay.field("band", "log_scale") == slice(3, 5)
    assert lay.field("range", "high") == slice(10, 12)
    assert lay.at("novel") == slice(lay.size - 6, lay.size - 5)
    assert lay.at("opened") == slice(lay.size - 5, lay.size)
    fresh = new_state(2)[0]
    assert fresh[lay.field("incident", "calm")][0] == scoring.CALM_NEVER
    assert fresh[lay.field("opened", "open")][0] == 0.0
    assert np.isnan(fresh[lay.field("opened", "offset")]).all()
    assert np.isnan(fresh[lay.field("repeats", "last")]).all()
    assert (fresh[lay.field("counts", "is_count")] == 1.0).all()
    assert lay.fingerprint != StatsLayout(scoring.SLICES, 3).fingerprint


def test_a_state_of_an_older_layout_is_migrated_not_reset() -> None:
    """A vector laid out without the recent level becomes one with it: every other slice
    keeps its values, the recent level starts fresh."""
    older = StatsLayout([s for s in scoring.SLICES if s.name != "level"], 1)
    new = scoring_layout(1)
    rng = np.random.default_rng(0)
    pending = np.broadcast_to(GAUSS, (4, 1, 9)).copy()
    state = new_state(1, 4)
    for _ in range(60):
        _, state = score_batch(AlertPolicy(), LEVELS, pending, rng.normal(size=(4, 1)), state)
    keep = [s.name for s in older.slices]
    stored = np.concatenate([state[:, new.at(k)] for k in keep], axis=1)
    assert stored.shape == (4, older.size) and older.size == new.size - scoring.level_size(1)
    got = new.migrate(stored, older)
    for k in keep:
        assert np.array_equal(got[:, new.at(k)], state[:, new.at(k)], equal_nan=True)
    fresh_level = new_state(1)[0, new.at("level")]
    assert np.array_equal(got[:, new.at("level")], np.tile(fresh_level, (4, 1)), equal_nan=True)
    with pytest.raises(ValueError):
        new.migrate(stored[:, :-1], older)


def _series(policy: AlertPolicy, values: np.ndarray) -> list[scoring.combine.StepResult]:
    state = new_state(1, 1)
    pending = (GAUSS * 1.0)[None, None, :]
    outs = []
    for v in values:
        out, state = score_batch(policy, LEVELS, pending, np.array([[v]]), state)
        outs.append(out)
    return outs


def _alerts(values: np.ndarray, policy: AlertPolicy | None = None) -> list[tuple[int, object]]:
    outs = _series(policy or AlertPolicy(warmup=100), values)
    return [(t, o) for t, o in enumerate(outs) if o.alert[0]]


def _noise(n: int = 400) -> np.ndarray:
    return np.random.default_rng(3).normal(size=n)


def test_a_spike_above_says_above_and_which_parts_fired() -> None:
    values = _noise()
    values[300] = 12.0
    got = _alerts(values)
    assert [t for t, _ in got] == [300]
    out = got[0][1]
    assert out.direction[0] == ABOVE and out.direction_of(0) == "above"
    reason = out.reason(0)
    # a novel reading scores the floor graded up by its own likelihood score
    assert set(reason) == {"band", "novelty"}
    floor = AlertPolicy().novelty_score
    assert reason["novelty"] == pytest.approx(floor + (1 - floor) * reason["band"])
    assert max(reason.values()) == pytest.approx(out.score[0])


def test_a_drop_below_says_below() -> None:
    values = _noise()
    values[300] = -12.0
    (t, out), *_ = _alerts(values)
    assert t == 300 and out.direction_of(0) == "below" and "band" in out.reason(0)


def test_a_stuck_value_says_flat_and_repeats() -> None:
    values = _noise()
    values[300:340] = 0.1
    got = _alerts(values)
    assert len(got) == 1 and 300 < got[0][0] < 310
    out = got[0][1]
    assert out.direction[0] == FLAT and out.direction_of(0) == "flat"
    assert "repeats" in out.reason(0)
    assert BELOW != FLAT != ABOVE


def test_a_stronger_incident_outranks_a_weaker_one_of_the_same_kind() -> None:
    policy = AlertPolicy(warmup=100)
    scores = []
    for height in (8.0, 30.0):
        values = _noise()
        values[300] = height
        (t, out), *_ = _alerts(values, policy)
        assert t == 300
        scores.append(out.score[0])
    assert scores[1] > scores[0] > AlertPolicy().novelty_score


def _stuck_score(values: np.ndarray, policy: AlertPolicy) -> float:
    """The score of the first alert at or after reading 300 (a stuck value)."""
    out = next(o for t, o in _alerts(values, policy) if t >= 300)
    assert out.direction_of(0) == "flat" and "repeats" in out.reason(0)
    return float(out.score[0])


def test_a_stuck_run_is_ranked_by_its_evidence_not_tied_at_the_floor() -> None:
    """A run of 3 repeats where values never repeated outranks a run that only doubles the
    longest earlier run (of 11); with ``repeats_weight`` 0 both score about the floor."""
    policy = AlertPolicy(warmup=100)
    never = _noise()
    never[300:340] = never[299]  # stuck at the third repeat of a never-repeated value
    quantised = _noise()
    quantised[150:161] = quantised[149]  # an earlier run: 11 repeats
    quantised[300:340] = quantised[299]  # stuck once the run passes 22, at 23
    strong, weak = _stuck_score(never, policy), _stuck_score(quantised, policy)
    floor = policy.novelty_score
    assert strong == pytest.approx(floor + (1 - floor) * (1 - 1 / 4), abs=1e-3)
    assert weak == pytest.approx(floor + (1 - floor) * (1 - 12 / 24), abs=1e-3)
    assert strong > weak > floor + 0.1
    flat = dataclasses.replace(policy, repeats_weight=0.0)
    for values in (never, quantised):
        assert _stuck_score(values, flat) == pytest.approx(floor, abs=0.02)


@pytest.mark.parametrize("n_inputs", [1, 2])
def test_scoring_into_a_view_of_the_callers_rows_equals_scoring_into_a_new_array(
    n_inputs: int,
) -> None:
    """``score_batch(out=...)`` (what ``Detector.step`` passes: the scoring columns of its
    new rows) writes every slice there, the daily profile and the recent level in place, and
    gives the same state and scores as without ``out``; the input state is left as it was."""
    rng = np.random.default_rng(11)
    size = scoring.state_size(n_inputs)
    pending = np.broadcast_to(GAUSS, (6, n_inputs, 9)).copy()
    state = new_state(n_inputs, 6)
    times = 1.7e9 + 1800.0 * np.arange(400)
    for t in range(400):  # long enough for the daily profile and the level to fill
        obs = rng.normal(size=(6, n_inputs)) + np.sin(times[t] / 86400 * 2 * np.pi)
        before = state.copy()
        a, plain = score_batch(
            AlertPolicy(), LEVELS, pending, obs, state, times[t : t + 1] + 0 * obs[:, 0]
        )
        rows = np.full((6, size + 7), -1.0)  # the scoring columns sit inside wider rows
        view = rows[:, 3 : 3 + size]
        b, got = score_batch(
            AlertPolicy(), LEVELS, pending, obs, state, times[t : t + 1] + 0 * obs[:, 0], out=view
        )
        assert got is view
        assert np.array_equal(got, plain, equal_nan=True)
        assert np.array_equal(state, before, equal_nan=True)
        assert (rows[:, :3] == -1.0).all() and (rows[:, 3 + size :] == -1.0).all()
        assert np.array_equal(a.score, b.score) and np.array_equal(a.alert, b.alert)
        state = plain
    lay = scoring_layout(n_inputs)
    assert np.isfinite(state[:, lay.field("daily", "mean")]).all()  # the profile was used
    assert (state[:, lay.field("level", "seen")] == 400).all()
