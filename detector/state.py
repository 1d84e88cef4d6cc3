"""A stream's detector state as a plain value: ring buffers, step count, scalar statistics.

Slot convention (shared with ``state/``): the input of convolution ``j`` at time ``t``
(``t`` = 0-based index of the reading in its stream) lives in row ``t % L_j`` of ring ``j``,
where ``L_j = (kernel_size - 1) * dilation_j``. Rows not yet written are zeros, which is
exactly the causal zero padding of the full forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F32, F64

RING_DTYPES = ("float32", "float16", "bfloat16", "float8_e5m2")
"""How the rings may be held and stored: ``float32``, half precision, or 8-bit floats
(``float8_e5m2``: a float16 with its low byte rounded off, a quarter of float32's bytes)."""
DEFAULT_RING_DTYPE: Final = "float8_e5m2"
"""How a ``Detector`` and the worker hold the rings unless told otherwise: a quarter of
float32's bytes in the hot cache, in Redis and in every save's rows, with scores within
half a point of float16's and float32's on every corpus measured (BENCHMARKS.md, "8-bit
rings as the default"; docs/decisions/float8-rings.md). The step computes in float32 either way;
``float32`` rings make it match the full forward pass to 1e-6."""
STORED_DTYPE: Final[dict[str, np.dtype[Any]]] = {
    "float32": np.dtype("<f4"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<u2"),
    "float8_e5m2": np.dtype("u1"),
}
"""How each ring dtype's values are held and stored, as numpy sees them (little-endian;
numpy has no bfloat16 or float8: their bits, the upper half of a float32's and the upper
byte of a float16's)."""
RING_ITEMSIZE = {name: dtype.itemsize for name, dtype in STORED_DTYPE.items()}


def float8_as_float16(bits: npt.NDArray[Any]) -> npt.NDArray[np.float16]:
    """Stored ``float8_e5m2`` values (their bits, uint8) as the float16 values they are:
    the upper byte of a float16, widened with one shift (exact)."""
    out: npt.NDArray[np.float16] = np.left_shift(bits, 8, dtype=np.uint16).view(np.float16)
    return out


def check_ring_dtype(name: str) -> str:
    """``name`` if it is one of ``RING_DTYPES``, else ``ValueError`` saying what is allowed."""
    if name not in RING_DTYPES:
        raise ValueError(f"ring dtype must be one of {', '.join(RING_DTYPES)}, got {name!r}")
    return name


@dataclass(frozen=True)
class OlderStats:
    """A stats layout that this one replaced: its size, its key, and how a vector laid out
    by it becomes one of this layout (``upgrade``: ``(stats_size,)`` -> new)."""

    stats_size: int
    stats_key: str
    upgrade: Callable[[F64], F64]


@dataclass(frozen=True)
class StateLayout:
    """Shapes of one stream's state for one model; what a store needs to validate bytes.

    ring_shapes: ``(L_j, C_j)`` per convolution, in network order.
    stats_size: length of the float64 ``stats`` vector (normalisation, pending band,
    calibration and alert state; its inner layout belongs to ``detector``).
    model_id: short identifier of the weights + spec that produced the state.
    ring_dtype: how the rings are held in the detector's pool and stored (``RING_DTYPES``);
    the arrays of ``StreamState`` and ``StateDelta`` are float32 whatever it is, holding
    values that this dtype represents exactly.
    stats_key: what tells this stats layout apart from another of the same size (its
    named, versioned slices; empty for the first versioned one, as before versions).
    older: the older stats layouts whose stored vectors each one's ``upgrade`` turns into
    this one's (a store reads a state of any of them, and of any ring dtype, as one of
    this layout: see ``tcnad.state.codec``).
    """

    ring_shapes: tuple[tuple[int, int], ...]
    stats_size: int
    model_id: str
    ring_dtype: str = "float32"
    stats_key: str = ""
    older: tuple[OlderStats, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        check_ring_dtype(self.ring_dtype)

    @property
    def ring_itemsize(self) -> int:
        """Bytes of one ring value as held and stored."""
        return RING_ITEMSIZE[self.ring_dtype]

    @property
    def ring_bytes(self) -> int:
        """Bytes of all rings of one stream in ``ring_dtype``."""
        return sum(length * ch for length, ch in self.ring_shapes) * self.ring_itemsize


@dataclass(frozen=True)
class StreamState:
    """Everything the detector needs to continue a stream.

    step: readings applied so far (the next reading has time index ``step``).
    rings: per convolution ``(L_j, C_j)`` float32, see the module's slot convention; a
        float16 store decodes them as float16 (the values a detector's float16 rings hold),
        which ``Detector.put`` takes as they are.
    stats: ``(stats_size,)`` float64.
    """

    step: int
    rings: tuple[F32, ...]
    stats: F64


@dataclass(frozen=True)
class StateDelta:
    """What changed in a stream's state since step ``since_step`` (the last saved step).

    rows: ``(sum_j n_j * C_j,)``, the changed rows of every ring, ring after ring: for ring
    ``j``, the inputs of times ``step - n_j, ..., step - 1`` in time order, each a row of
    ``C_j`` values, where ``n_j = min(step - since_step, L_j)``. Row ``i`` of ring ``j``
    goes to slot ``(step - n_j + i) % L_j`` (the range may wrap once). One flat array, so
    that a store writes it as it is; ``ring_rows`` gives the per-ring view. float32, or the
    form a detector's narrower rings hold (``Detector.delta``): float16 values, or
    bfloat16's or float8's bits as uint16 or uint8 (``STORED_DTYPE``).
    """

    since_step: int
    step: int
    stats: F64
    rows: npt.NDArray[Any]

    def ring_rows(
        self, ring_shapes: Sequence[tuple[int, int]]
    ) -> tuple[tuple[int, npt.NDArray[Any]], ...]:
        """Per ring ``(start_slot, rows (n_j, C_j))``, views of ``rows``; raises ``ValueError``
        if ``rows`` does not hold exactly the rows ``ring_shapes`` asks for."""
        n = self.step - self.since_step
        want = delta_size(ring_shapes, n)
        if self.rows.shape != (want,):
            raise ValueError(
                f"rows has shape {self.rows.shape}, steps {self.since_step}->{self.step} of "
                f"these rings need ({want},)"
            )
        out, pos = [], 0
        for length, ch in ring_shapes:
            n_j = min(n, length)
            block = self.rows[pos : pos + n_j * ch].reshape(n_j, ch)
            out.append(((self.step - n_j) % length, block))
            pos += n_j * ch
        return tuple(out)

    @classmethod
    def from_ring_rows(
        cls, since_step: int, step: int, stats: F64, ring_rows: Sequence[tuple[int, F32]]
    ) -> StateDelta:
        """A delta from per-ring ``(start_slot, rows)`` blocks (the start slots follow from
        the steps and are not stored)."""
        parts = [np.asarray(rows, dtype=np.float32).reshape(-1) for _, rows in ring_rows]
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return cls(since_step, step, stats, flat)


def delta_size(ring_shapes: Sequence[tuple[int, int]], n_steps: int) -> int:
    """Floats in the rows of a delta of ``n_steps`` steps."""
    return sum(min(n_steps, length) * ch for length, ch in ring_shapes)
