"""Deterministic states for tests and benchmarks of the stores.

Every value of a synthetic stream is a function of (stream, step), so a stored record can
be checked for consistency on its own: its rings, stats, offset and timestamp must all be
those of its step. A half-written stream (rings of one step, meta of another) fails.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F32, F64
from tcnad.detector.state import StateDelta, StateLayout, StreamState
from tcnad.state.types import StreamRecord, StreamUpdate

BASE_OFFSET = 1000
BASE_TIME = 1.7e9
STEPPED = 4  # stats that change every step (``stats_at``)


def reference_layout(model_id: str = "ref0001", stats_size: int = 24) -> StateLayout:
    """The reference spec: 8 blocks, dilations 1..128, kernel 3, 32 channels, 2 convs per
    block, 1 input channel: 16 rings ``(2 * d, C)``."""
    shapes: list[tuple[int, int]] = []
    for i in range(8):
        d = 2**i
        shapes += [(2 * d, 1 if i == 0 else 32), (2 * d, 32)]
    return StateLayout(tuple(shapes), stats_size, model_id)


def _seed(stream: str) -> float:
    return float(zlib.crc32(stream.encode("utf-8")) % 997)


def ring_rows(stream: str, ring: int, times: npt.NDArray[np.int64], channels: int) -> F32:
    """Inputs of convolution ``ring`` at ``times`` of a synthetic stream:
    ``(len(times), channels)``."""
    base = _seed(stream) + (times % 65536) + ring / 64.0
    return (base[:, None] + np.arange(channels) / 1024.0).astype(np.float32)


def stats_at(layout: StateLayout, stream: str, step: int) -> F64:
    """``(stats_size,)`` statistics of a synthetic stream after ``step`` readings.

    Like a detector's, a step changes only some of them (so saves send stats patches): the
    first ``STEPPED`` every step, and of the others ("bins") the one of index ``step %
    bins``, which holds the last step that wrote it."""
    out = np.arange(layout.stats_size, dtype=np.float64) * 0.5 + _seed(stream)
    stepped = min(STEPPED, layout.stats_size)
    out[:stepped] += step
    bins = layout.stats_size - stepped
    if bins and step > 0:
        last = step - (step - np.arange(bins)) % bins  # last step <= step in each bin
        out[stepped:] += np.where(last > 0, last, 0)
    return out


def position_at(step: int) -> tuple[int, float]:
    """``(offset, timestamp)`` of the last reading applied after ``step`` readings."""
    return BASE_OFFSET + step - 1, BASE_TIME + step


def synthetic_update(layout: StateLayout, stream: str, since: int, step: int) -> StreamUpdate:
    """The update that takes a synthetic stream from ``since`` to ``step`` readings."""
    rows = []
    for j, (length, ch) in enumerate(layout.ring_shapes):
        n = min(step - since, length)
        block = ring_rows(stream, j, np.arange(step - n, step, dtype=np.int64), ch)
        rows.append(((step - n) % length, block))
    offset, ts = position_at(step)
    delta = StateDelta.from_ring_rows(since, step, stats_at(layout, stream, step), rows)
    return StreamUpdate(stream, delta, offset, ts)


def expected_state(layout: StateLayout, stream: str, step: int) -> StreamState:
    """Full state of a synthetic stream after ``step`` readings (unwritten rows zero)."""
    rings = []
    for j, (length, ch) in enumerate(layout.ring_shapes):
        ring = np.zeros((length, ch), dtype=np.float32)
        times = np.arange(max(0, step - length), step, dtype=np.int64)
        ring[times % length] = ring_rows(stream, j, times, ch)
        rings.append(ring)
    return StreamState(step, tuple(rings), stats_at(layout, stream, step))


def inconsistencies(layout: StateLayout, record: StreamRecord) -> list[str]:
    """What in ``record`` disagrees with its own step (empty: consistent)."""
    step = record.state.step
    want = expected_state(layout, record.stream, step)
    problems = []
    if (record.offset, record.timestamp) != position_at(step):
        problems.append(f"position {(record.offset, record.timestamp)} at step {step}")
    if not np.array_equal(record.state.stats, want.stats):
        problems.append(f"stats differ at step {step}")
    for j, (got, exp) in enumerate(zip(record.state.rings, want.rings, strict=True)):
        if not np.array_equal(got, exp):
            problems.append(f"ring {j} differs at step {step}: {_ring_times(record, j, got)}")
    return problems


def _ring_times(record: StreamRecord, ring: int, rows: npt.NDArray[np.float32]) -> str:
    """What a ring that disagrees holds: the readings (times) its rows were written for, by
    row, as far as ``ring_rows`` can tell (``-`` a zero row, ``?`` a row of no reading)."""
    out = []
    for row in rows:
        if not row.any():
            out.append("-")
            continue
        t = float(row[0]) - _seed(record.stream) - ring / 64.0
        ok = abs(t - round(t)) < 1e-3 and np.array_equal(
            row, ring_rows(record.stream, ring, np.array([round(t)]), row.size)[0]
        )
        out.append(str(round(t)) if ok else "?")
    return "rows hold " + " ".join(out)
