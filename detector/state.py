"""A stream's detector state as a plain value: ring buffers, step count, scalar statistics.

Slot convention (shared with ``state/``): the input of convolution ``j`` at time ``t``
(``t`` = 0-based index of the reading in its stream) lives in row ``t % L_j`` of ring ``j``,
where ``L_j = (kernel_size - 1) * dilation_j``. Rows not yet written are zeros, which is
exactly the causal zero padding of the full forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StateLayout:
    """Shapes of one stream's state for one model; what a store needs to validate bytes.

    ring_shapes: ``(L_j, C_j)`` per convolution, in network order.
    stats_size: length of the float64 ``stats`` vector (normalisation, pending band,
    calibration and alert state; its inner layout belongs to ``detector``).
    model_id: short identifier of the weights + spec that produced the state.
    """

    ring_shapes: tuple[tuple[int, int], ...]
    stats_size: int
    model_id: str

    @property
    def ring_bytes(self) -> int:
        """Bytes of all rings of one stream in float32."""
        return sum(length * ch * 4 for length, ch in self.ring_shapes)


@dataclass(frozen=True)
class StreamState:
    """Everything the detector needs to continue a stream.

    step: readings applied so far (the next reading has time index ``step``).
    rings: per convolution ``(L_j, C_j)`` float32, see the module's slot convention.
    stats: ``(stats_size,)`` float64.
    """

    step: int
    rings: tuple[F32, ...]
    stats: F64


@dataclass(frozen=True)
class StateDelta:
    """What changed in a stream's state since step ``since_step`` (the last saved step).

    ring_rows: per convolution ``(start_slot, rows)``: ``rows`` is ``(n_j, C_j)`` float32, the
    inputs of times ``step - n_j, ..., step - 1`` in time order, ``n_j = min(step - since_step,
    L_j)``, and ``start_slot = (step - n_j) % L_j``; row ``i`` goes to slot
    ``(start_slot + i) % L_j`` (it may wrap once).
    """

    since_step: int
    step: int
    stats: F64
    ring_rows: tuple[tuple[int, F32], ...]
