"""Safe checkpoints: folded weights as safetensors + a JSON file with the spec and metadata.

A checkpoint ``<stem>`` is the pair ``<stem>.safetensors`` and ``<stem>.json``. Loading never
unpickles anything; a missing, corrupt or mismatched pair raises ``CheckpointError``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tcnad.detector.errors import CheckpointError, SpecError
from tcnad.detector.model import Weights, expected_shapes
from tcnad.detector.spec import TCNSpec

log = logging.getLogger(__name__)

FORMAT = "tcnad-checkpoint"
VERSION = 1
DEFAULT_STEM = Path(__file__).resolve().parent / "models" / "default"


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, json)`` paths of a checkpoint given its stem or either file."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_checkpoint(
    path: str | Path, spec: TCNSpec, weights: Weights, meta: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` and ``<stem>.json``; returns both paths."""
    _check_weights(spec, weights, "weights to save")
    w_path, j_path = checkpoint_paths(path)
    w_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in weights.items()}
    save_file(tensors, str(w_path))
    doc = {"format": FORMAT, "version": VERSION, "spec": spec.to_dict(), "meta": meta or {}}
    j_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return w_path, j_path


def load_checkpoint(path: str | Path | None = None) -> tuple[TCNSpec, Weights, dict[str, Any]]:
    """Load ``(spec, weights, meta)``; ``None`` loads the shipped default model."""
    w_path, j_path = checkpoint_paths(DEFAULT_STEM if path is None else path)
    for p in (w_path, j_path):
        if not p.is_file():
            raise CheckpointError(f"checkpoint file {p} not found (need {w_path} and {j_path})")
    try:
        doc = json.loads(j_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {j_path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{j_path} is not a tcnad checkpoint (format != {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise CheckpointError(
            f"{j_path} has checkpoint version {doc.get('version')!r}; this tcnad reads "
            f"version {VERSION}: retrain or use a matching tcnad release"
        )
    try:
        spec = TCNSpec.from_dict(doc.get("spec") or {})
    except SpecError as exc:
        raise CheckpointError(f"{j_path} holds an invalid spec: {exc}") from exc
    try:
        weights = load_file(str(w_path))
    except Exception as exc:  # safetensors raises its own and OS errors on corrupt files
        raise CheckpointError(f"cannot read weights {w_path}: {exc}") from exc
    _check_weights(spec, weights, str(w_path))
    meta = doc.get("meta") or {}
    log.debug("loaded checkpoint path=%s receptive_field=%d", w_path, spec.receptive_field)
    return spec, weights, dict(meta)


def _check_weights(spec: TCNSpec, weights: Weights, where: str) -> None:
    want = expected_shapes(spec)
    if set(weights) != set(want):
        missing, extra = sorted(set(want) - set(weights)), sorted(set(weights) - set(want))
        raise CheckpointError(
            f"{where} do not match the spec: missing {missing}, unexpected {extra}"
        )
    for name, shape in want.items():
        t = weights[name]
        if tuple(t.shape) != shape:
            raise CheckpointError(f"{where}: {name} has shape {tuple(t.shape)}, spec needs {shape}")
        if not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{where}: {name} holds non-finite values")
