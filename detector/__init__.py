"""Pure computation: the causal dilated TCN quantile forecaster and its streaming step.

A stream is scored one reading at a time. The model keeps, for every convolution, a ring
buffer of that layer's last ``(kernel_size - 1) * dilation`` inputs, so one reading costs one
incremental step, independent of the receptive field. ``Detector`` ties it together: score
the reading against the band forecast for it, normalise, step, forecast the next band.
Nothing here talks to Kafka or Redis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tcnad.detector.checkpoint import load_checkpoint, save_checkpoint
    from tcnad.detector.engine import Detector, StepInputError, StreamDetector
    from tcnad.detector.errors import CheckpointError, DetectorError, SpecError
    from tcnad.detector.result import StepResult
    from tcnad.detector.scoring import AlertPolicy
    from tcnad.detector.spec import TCNSpec
    from tcnad.detector.state import StateDelta, StateLayout, StreamState

# The names below load on first use (PEP 562), so that importing a light module of the
# package (errors, spec, state) does not import torch: every tcnad command imports some.
_MODULE_OF = {
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "Detector": "engine",
    "StepInputError": "engine",
    "StreamDetector": "engine",
    "CheckpointError": "errors",
    "DetectorError": "errors",
    "SpecError": "errors",
    "StepResult": "result",
    "AlertPolicy": "scoring",
    "TCNSpec": "spec",
    "StateDelta": "state",
    "StateLayout": "state",
    "StreamState": "state",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


__all__ = [
    "AlertPolicy",
    "CheckpointError",
    "Detector",
    "DetectorError",
    "SpecError",
    "StateDelta",
    "StateLayout",
    "StepInputError",
    "StepResult",
    "StreamDetector",
    "StreamState",
    "TCNSpec",
    "load_checkpoint",
    "save_checkpoint",
]
