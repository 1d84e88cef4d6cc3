from __future__ import annotations

import numpy as np
import pytest

from tcnad.detector.lab.synthetic import (
    ANOMALY_KINDS,
    KINDS,
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
