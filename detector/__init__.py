"""Pure computation: the causal dilated TCN quantile forecaster and its streaming step.

A stream is scored one reading at a time. The model keeps, for every convolution, a ring
buffer of that layer's last ``(kernel_size - 1) * dilation`` inputs, so one reading costs one
incremental step, independent of the receptive field. ``Detector`` ties it together: score
the reading against the band forecast for it, normalise, step, forecast the next band.
Nothing here talks to Kafka or Redis.
"""

from tcnad.detector.checkpoint import load_checkpoint, save_checkpoint
from tcnad.detector.engine import Detector, StepInputError, StreamDetector
from tcnad.detector.errors import CheckpointError, DetectorError, SpecError
from tcnad.detector.result import StepResult
from tcnad.detector.scoring import AlertPolicy
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import StateDelta, StateLayout, StreamState

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
