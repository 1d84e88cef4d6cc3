"""Pure computation: the causal dilated TCN quantile forecaster and its streaming step.

A stream is scored one reading at a time. The model keeps, for every convolution, a ring
buffer of that layer's last ``(kernel_size - 1) * dilation`` inputs, so one reading costs one
incremental step, independent of the receptive field. Nothing here talks to Kafka or Redis.
"""

from detector.errors import CheckpointError, DetectorError, SpecError

__all__ = ["CheckpointError", "DetectorError", "SpecError"]
