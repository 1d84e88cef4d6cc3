from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tcnad.detector.checkpoint import load_checkpoint, save_checkpoint
from tcnad.detector.engine import Detector, compute_model_id
from tcnad.detector.errors import CheckpointError
from tcnad.detector.spec import TCNSpec
from tests.unit.detector.conftest import random_weights

SPEC = TCNSpec(channels=4, dilations=(1, 2))


def test_round_trip(tmp_path: Path) -> None:
    w = random_weights(SPEC, 3)
    save_checkpoint(tmp_path / "m", SPEC, w, {"epochs": 2})
    spec, w2, meta = load_checkpoint(tmp_path / "m.json")
    assert spec == SPEC and meta == {"epochs": 2}
    assert all(torch.equal(w[k], w2[k]) for k in w)
    assert compute_model_id(spec, w2) == compute_model_id(SPEC, w)
    det = Detector.from_checkpoint(tmp_path / "m.safetensors", device="cpu", capacity=2)
    assert det.model_id == compute_model_id(SPEC, w)


def test_model_id_changes_with_weights() -> None:
    w = random_weights(SPEC, 3)
    w2 = dict(w)
    w2["head.bias"] = w["head.bias"] + 1e-3
    assert compute_model_id(SPEC, w) != compute_model_id(SPEC, w2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope")


def test_corrupt_weights(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "m", SPEC, random_weights(SPEC, 0))
    (tmp_path / "m.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_checkpoint(tmp_path / "m")


def test_corrupt_json(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "m", SPEC, random_weights(SPEC, 0))
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "m")


def test_spec_and_weights_mismatch(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "m", SPEC, random_weights(SPEC, 0))
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["spec"]["channels"] = 8
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(tmp_path / "m")


def test_wrong_version_and_bad_spec(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "m", SPEC, random_weights(SPEC, 0))
    doc = json.loads((tmp_path / "m.json").read_text())
    (tmp_path / "m.json").write_text(json.dumps(doc | {"version": 99}))
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(tmp_path / "m")
    doc["spec"]["kernel_size"] = 0
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="invalid spec"):
        load_checkpoint(tmp_path / "m")


def test_non_finite_weights_refused(tmp_path: Path) -> None:
    w = random_weights(SPEC, 0)
    w["head.bias"][0] = float("nan")
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(tmp_path / "m", SPEC, w)
