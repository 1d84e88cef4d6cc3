"""Training end to end on tiny specs: determinism, file input, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.engine import Detector
from tcnad.detector.lab.train import TrainConfig, TrainingDataError, read_series_file, train
from tcnad.detector.spec import TCNSpec

SPEC = TCNSpec(channels=4, dilations=(1, 2), quantiles=(0.05, 0.5, 0.95))


def _cfg(out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        out=str(out),
        spec=SPEC,
        synthetic_series=6,
        synthetic_length=200,
        window=64,
        batch_size=4,
        epochs=2,
        steps_per_epoch=2,
        val_windows=8,
        device="cpu",
    )
    return TrainConfig(**(base | kw))  # type: ignore[arg-type]


def test_same_seed_same_weights_and_loadable(tmp_path: Path) -> None:
    meta = train(_cfg(tmp_path / "a"))
    train(_cfg(tmp_path / "b"))
    train(_cfg(tmp_path / "c", seed=1))
    _, wa, meta_a = load_checkpoint(tmp_path / "a")
    _, wb, _ = load_checkpoint(tmp_path / "b")
    _, wc, _ = load_checkpoint(tmp_path / "c")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert np.isfinite(meta["best_val_pinball"]) and len(meta_a["history"]) == 2
    det = Detector.from_checkpoint(tmp_path / "a", device="cpu", capacity=2)
    assert det.step([0], [[1.0]]).alert.shape == (1,)


def _write_csv(path: Path, values: np.ndarray) -> None:
    rows = "\n".join(f"{i},{v}" for i, v in enumerate(values))
    path.write_text("timestamp,value\n" + rows + "\n")


def test_trains_from_csv(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    t = np.arange(400.0)
    vals = np.sin(t / 10)
    vals[5] = np.nan  # a bad row: line 7
    _write_csv(data / "s1.csv", vals)
    _write_csv(data / "sub" / "s2.csv", np.cos(t / 7))
    with pytest.raises(TrainingDataError, match=r"s1\.csv:7: value 'nan' in column 'value'"):
        read_series_file(data / "s1.csv")
    assert read_series_file(data / "s1.csv", skip_bad_rows=True).shape == (399, 1)
    with pytest.raises(TrainingDataError, match=r"s1\.csv:7: "):
        train(_cfg(tmp_path / "m", data_dirs=(str(data),), synthetic_series=0))
    cfg = _cfg(tmp_path / "m", data_dirs=(str(data),), synthetic_series=0, skip_bad_rows=True)
    meta = train(cfg)
    assert meta["series"] == 2


def test_reads_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet input needs the 'parquet' extra")
    import pyarrow.parquet as pq

    t = np.arange(100.0)
    table = pa.table({"timestamp": t, "a": np.cos(t), "b": np.sin(t)})
    pq.write_table(table, tmp_path / "s.parquet")
    assert read_series_file(tmp_path / "s.parquet").shape == (100, 2)


def test_wrong_width_and_empty_dirs_raise(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    with pytest.raises(TrainingDataError, match=r"no \.csv"):
        train(_cfg(tmp_path / "m", data_dirs=(str(data),)))
    (data / "s.csv").write_text("timestamp,a,b\n" + "\n".join(f"{i},1,2" for i in range(50)))
    with pytest.raises(TrainingDataError, match="2 value columns"):
        train(_cfg(tmp_path / "m", data_dirs=(str(data),)))
    with pytest.raises(TrainingDataError, match="no training series"):
        train(_cfg(tmp_path / "m", synthetic_series=0))


def test_shipped_default_model_loads() -> None:
    det = Detector.from_checkpoint(None, device="cpu", capacity=4)
    assert det.spec == TCNSpec(dropout=det.spec.dropout)
    assert det.spec.receptive_field == 1021 and len(det.model_id) == 16
    rng = np.random.default_rng(0)
    for _ in range(50):
        res = det.step([0, 1], rng.normal(size=(2, 1)))
    assert (res.lower < res.median).all() and (res.median < res.upper).all()
