from __future__ import annotations

import numpy as np
import pytest

from tcnad.detector.lab.synthetic import (
    ANOMALY_KINDS,
    KINDS,
    apply_anomaly,
    generate_corpus,
    generate_series,
    inject_anomalies,
)


def test_corpus_is_seeded_and_covers_all_kinds() -> None:
    a = generate_corpus(len(KINDS), 500, seed=3, n_inputs=2)
    b = generate_corpus(len(KINDS), 500, seed=3, n_inputs=2)
    c = generate_corpus(len(KINDS), 500, seed=4, n_inputs=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert all(x.shape == (500, 2) and np.isfinite(x).all() for x in a)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown series kind"):
        generate_series("sawtooth", 10, np.random.default_rng(0))


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_injected_anomalies_are_where_reported(kind: str) -> None:
    x = generate_series("ar", 3000, np.random.default_rng(1))
    y, anomalies = inject_anomalies(x, np.random.default_rng(2), 3, kinds=[kind])
    assert len(anomalies) == 3 and all(a.kind == kind for a in anomalies)
    changed = np.flatnonzero((y != x).any(axis=1))
    first = anomalies[0].start
    assert changed.min() == first or (kind == "flatline" and changed.min() > first)
    for a in anomalies:
        inside = (y[a.start : a.end] != x[a.start : a.end]).any()
        assert inside
    if kind != "level_shift":
        covered = np.zeros(len(x), bool)
        for a in anomalies:
            covered[a.start : a.end] = True
        assert covered[changed].all()
    starts = [a.start for a in anomalies]
    assert starts == sorted(starts) and starts[0] >= 100


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_an_anomaly_applied_block_by_block_equals_it_applied_at_once(kind: str) -> None:
    """What the demo fleet relies on: a stream made in blocks gets the same anomaly."""
    rng = np.random.default_rng(5)
    x = generate_series("ar", 300, rng, n_inputs=2)
    size, noise = np.array([3.0, 0.5]), rng.standard_normal((40, 2))
    whole = x.copy()
    apply_anomaly(whole, kind, 100, 140, size, -1.0, noise)
    blocks, held = [], None
    for t0 in range(0, 300, 37):
        block = x[t0 : t0 + 37].copy()
        if t0 <= 100 < t0 + 37:
            held = block[100 - t0].copy()
        apply_anomaly(block, kind, 100, 140, size, -1.0, noise, t0=t0, held=held)
        blocks.append(block)
    assert np.array_equal(np.concatenate(blocks), whole)
    assert not np.array_equal(whole, x)
