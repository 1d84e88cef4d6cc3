from __future__ import annotations

import numpy as np

from tcnad.detector.normalize import new_norm_stats, normalize_series, normalize_step, running_std
from tcnad.detector.spec import TCNSpec

SPEC = TCNSpec(n_inputs=2, norm_alpha=0.05, norm_clip=4.0, norm_warmup=5)


def test_series_helper_equals_stepping() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(3, 50, 2))
    z, stats = normalize_series(SPEC, x)
    st = new_norm_stats(SPEC, 3)
    for t in range(50):
        zt, st = normalize_step(SPEC, st, x[:, t])
        assert np.array_equal(zt, z[:, t]) and np.array_equal(st, stats[:, t])


def test_first_input_is_zero_and_target_is_next_input() -> None:
    x = np.array([[[10.0, -1.0], [12.0, -3.0], [11.0, -2.0]]])
    z, stats = normalize_series(SPEC, x)
    assert np.array_equal(z[0, 0], [0.0, 0.0])
    # the forecast after reading t is relative to stats[t]; its target is z[t + 1]
    expect = (x[0, 2] - stats[0, 1, 1:3]) / running_std(SPEC, stats[0, 1:2])[0]
    assert np.allclose(z[0, 2], np.clip(expect, -4, 4))
    assert np.allclose(stats[0, 1, 1:3], [11.0, -2.0])  # cumulative mean at first


def test_clipping_keeps_stats_robust_to_a_spike() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, size=(1, 300, 2))
    x[0, 200] = 1e6
    z, stats = normalize_series(SPEC, x)
    assert np.abs(z).max() <= 4.0
    assert abs(stats[0, 200, 1]) < 1.0  # one spike moves the mean by at most alpha*clip*std


def test_constant_stream_stays_finite() -> None:
    x = np.full((1, 100, 2), 7.0)
    z, stats = normalize_series(SPEC, x)
    assert np.isfinite(z).all() and np.isfinite(stats).all()
    assert np.abs(z).max() == 0.0
