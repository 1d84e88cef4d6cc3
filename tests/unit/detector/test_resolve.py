"""An alert's lifecycle: the reading that ends an incident resolves its alert, once, naming
the reading that raised it; resolutions are a function of the stored state and the
readings, so a replay from a stored state resolves the same alerts with the same ids."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from tcnad.detector.scoring import AlertPolicy, new_state, score_batch

LEVELS = np.array([0.005, 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975, 0.995])
GAUSS = np.array([NormalDist().inv_cdf(p) for p in LEVELS])
PARTITION = 3
FIRST_OFFSET = 5000


def _run(
    values: np.ndarray, policy: AlertPolicy, state: np.ndarray | None = None, start: int = 0
) -> tuple[list[tuple[str, int, tuple[float, ...]]], np.ndarray]:
    """Score ``values`` (reading ``t`` at offset ``FIRST_OFFSET + start + t``); returns the
    events ``("alert" | "resolved", reading, (partition, offset, readings, severity))`` in
    order and the state after the last reading."""
    state = new_state(1, 1) if state is None else state
    pending = GAUSS[None, None, :]
    events = []
    for t, v in enumerate(values):
        i = start + t
        where = np.array([[PARTITION, FIRST_OFFSET + i]], dtype=np.float64)
        out, state = score_batch(policy, LEVELS, pending, np.array([[v]]), state, where=where)
        if out.resolved[0]:
            events.append(("resolved", i, tuple(float(x) for x in out.opening[0])))
        else:
            assert np.isnan(out.opening[0]).all()
        if out.alert[0]:
            events.append(("alert", i, (PARTITION, FIRST_OFFSET + i, 0.0, out.severity[0])))
    return events, state


def _noise(n: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n) * 0.5


POLICY = AlertPolicy(warmup=100, cooldown=20)


def test_an_incident_that_ends_is_resolved_once_after_cooldown_in_band_readings() -> None:
    values = _noise(400)
    values[300] = 12.0
    events, _ = _run(values, POLICY)
    assert [(k, i) for k, i, _ in events] == [("alert", 300), ("resolved", 320)]
    (_, _, (p, o, _, sev)), (_, _, (rp, ro, readings, rsev)) = events
    assert (rp, ro) == (p, o) == (PARTITION, FIRST_OFFSET + 300)
    assert readings == 21 and rsev == sev > 0  # readings 300..320, both included


def test_incident_readings_before_the_resolution_extend_the_incident_not_a_second_one() -> None:
    """A second spike 10 readings after the first belongs to its incident: one alert, one
    resolution, cooldown readings after the second spike."""
    values = _noise(400)
    values[300] = 12.0
    values[310] = -12.0
    events, _ = _run(values, POLICY)
    assert [(k, i) for k, i, _ in events] == [("alert", 300), ("resolved", 330)]
    assert events[1][2][:3] == (PARTITION, FIRST_OFFSET + 300, 31)


def test_each_incident_is_resolved_with_its_own_id() -> None:
    values = _noise(500)
    values[300] = 12.0
    values[360] = 12.0
    events, _ = _run(values, POLICY)
    assert [(k, i) for k, i, _ in events] == [
        ("alert", 300),
        ("resolved", 320),
        ("alert", 360),
        ("resolved", 380),
    ]
    assert [e[2][1] for e in events if e[0] == "resolved"] == [
        FIRST_OFFSET + 300,
        FIRST_OFFSET + 360,
    ]


def test_with_no_cooldown_a_new_alert_resolves_the_open_one() -> None:
    values = _noise(400)
    values[300:302] = 12.0
    events, _ = _run(values, AlertPolicy(warmup=100, cooldown=0))
    kinds = [(k, i) for k, i, _ in events]
    assert kinds[:4] == [("alert", 300), ("resolved", 301), ("alert", 301), ("resolved", 302)]
    ids = [e[2][1] for e in events]
    assert [x for k, x in zip(kinds, ids, strict=True) if k[0] == "resolved"][:2] == [
        FIRST_OFFSET + 300,
        FIRST_OFFSET + 301,
    ]


def test_a_replay_from_a_stored_state_resolves_the_same_alert_with_the_same_id() -> None:
    """State stored mid-incident (after the alert, before its resolution): scoring the rest
    from it, twice, resolves the alert with the id of the reading that raised it, as the
    uninterrupted run does."""
    values = _noise(400)
    values[300] = 12.0
    whole, end = _run(values, POLICY)
    first, stored = _run(values[:310], POLICY)
    assert [(k, i) for k, i, _ in first] == [("alert", 300)]
    again = [_run(values[310:], POLICY, stored.copy(), start=310) for _ in range(2)]
    for rest, state in again:
        assert first + rest == whole
        assert np.array_equal(state, end, equal_nan=True)
    assert again[0][0] == again[1][0] == [whole[1]]
