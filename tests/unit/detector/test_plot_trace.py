"""`plot_trace` of a long stream: a min/max envelope per column keeps the band visible."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tcnad.detector.lab.plot import COLUMNS, Trace, _lo_hi, envelope, plot_trace


def test_short_traces_are_drawn_row_by_row() -> None:
    assert envelope(5).tolist() == [0, 1, 2, 3, 4]
    assert len(envelope(2 * COLUMNS)) == 2 * COLUMNS


def test_long_traces_are_binned_into_columns() -> None:
    starts = envelope(100_000)
    assert len(starts) == COLUMNS and starts[0] == 0 and (np.diff(starts) > 0).all()
    assert starts[-1] < 100_000


def test_envelope_keeps_every_extreme_and_ignores_nan() -> None:
    x = np.array([np.nan, np.nan, 1.0, 5.0, -3.0, 2.0])
    lo, hi = _lo_hi(x, np.array([0, 2, 4]))
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert lo[1:].tolist() == [1.0, -3.0] and hi[1:].tolist() == [5.0, 2.0]


def test_a_long_trace_renders(tmp_path: Path) -> None:
    n = 30_000
    rng = np.random.default_rng(0)
    value = np.sin(np.arange(n) / 300) + rng.normal(scale=0.1, size=n)
    alert = np.zeros(n, dtype=bool)
    alert[[100, 20_000]] = True
    trace = Trace(
        timestamps=np.datetime64("2014-01-01T00:00", "us") + np.arange(n) * np.timedelta64(1, "m"),
        value=value,
        score=np.clip(np.abs(value) / 2, 0, 1),
        lower=value - 0.5,
        median=value,
        upper=value + 0.5,
        alert=alert,
    )
    out = tmp_path / "long.png"
    plot_trace(trace, out, windows=[(19_000, 21_000)], title="long", threshold=0.57)
    assert out.read_bytes().startswith(b"\x89PNG") and out.stat().st_size > 20_000
