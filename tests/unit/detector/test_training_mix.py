"""The clean training series of ``tests/benchmarks/training_mix``: readable by ``tcnad
train --data``, counts where they should be, the same for the same seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tcnad.detector.lab.series import read_series
from tests.benchmarks import training_mix


def test_writes_readable_series_of_every_kind(tmp_path: Path) -> None:
    assert training_mix.write(tmp_path / "a", per_kind=2, length=600, seed=3) == 8
    files = sorted((tmp_path / "a").glob("*.csv"))
    assert [f.stem for f in files][::2] == ["counts_000", "edged_000", "hawkes_000", "smooth_000"]
    for f in files:
        s = read_series(f)
        assert s.values.shape == (600,) and np.isfinite(s.values).all()
        assert np.all(np.diff(s.timestamps.astype(np.int64)) > 0)
        if f.stem.startswith(("counts", "hawkes")):
            assert (s.values >= 0).all() and (s.values == np.round(s.values)).all()
        else:
            assert np.std(s.values) > 0


def test_same_seed_same_files(tmp_path: Path) -> None:
    training_mix.write(tmp_path / "a", per_kind=1, length=300, seed=5)
    training_mix.write(tmp_path / "b", per_kind=1, length=300, seed=5)
    training_mix.write(tmp_path / "c", per_kind=1, length=300, seed=6)
    a = (tmp_path / "a" / "hawkes_000.csv").read_text()
    assert a == (tmp_path / "b" / "hawkes_000.csv").read_text()
    assert a != (tmp_path / "c" / "hawkes_000.csv").read_text()
