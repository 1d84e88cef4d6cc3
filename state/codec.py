"""Versioned bytes for one stream's state: a small meta record and one flat ring blob.

meta = header | body
  header = b"TCNS" | format version u16 | layout fingerprint u32 | len u8 | model id
  body   = step i64 | offset i64 | timestamp f64 | source u64 | stats f64 * stats_size
           (little-endian; ``source`` names the topic partition of ``offset``)
rings  = ring 0 | ring 1 | ...  each row-major ``(L_j, C_j)`` in the layout's ring dtype,
         little-endian: float32 (4 bytes), float16 or bfloat16 (2 bytes; bfloat16 as the
         upper 16 bits of the float32, rounded to nearest even), float8_e5m2 (1 byte: the
         upper byte of the float16, rounded to nearest even), so slot ``s`` of ring ``j``
         is the ``C_j * w`` bytes at ``ring_base[j] + s * C_j * w`` (``w`` the value's size).

The header says who wrote the state; a reader compares it byte for byte with the headers
it knows, so a state of another model id, format version or shapes is never used silently.
It knows its own, and three kinds of older ones, each read as a state of this layout and
rewritten in it by the stream's next save, so that none of these changes resets a stream:
format 1 (the same body without ``source``, read as a state of unknown source), an older
stats layout of the model (``StateLayout.older``, its stats migrated), and rings of another
ring dtype (converted through float32 to this one; that save sends the rings whole, see
``state.base.Converted``). A rings blob shorter than the layout (slots never written)
reads as zeros, which is the causal zero padding of the slot convention in
``tcnad.detector.state``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from tcnad.detector.arrays import F32, F64
from tcnad.detector.state import (
    RING_DTYPES,
    RING_ITEMSIZE,
    STORED_DTYPE,
    StateDelta,
    StateLayout,
    StreamState,
    delta_size,
    float8_as_float16,
)
from tcnad.state.errors import CorruptState, IncompatibleState, InvalidUpdate
from tcnad.state.types import UNKNOWN_SOURCE, StreamRecord, StreamUpdate

FORMAT_VERSION = 2
OLD_FORMAT_VERSION = 1  # read (source unknown) and upgraded on the next save
MAGIC = b"TCNS"
# Each ring dtype's name in the layout fingerprint (float32's is the one used before there
# was a choice, so states stored then stay readable); its stored form is STORED_DTYPE.
_FINGERPRINT_TAG = {"float32": "<f4", "float16": "<f2", "bfloat16": "<bf16", "float8_e5m2": "<e5m2"}
# Layouts whose rings decode as float16 values (exact for both): what a detector's rings of
# that dtype are written from without a widening to float32 that they would round back.
_AS_FLOAT16 = ("float16", "float8_e5m2")
MAX_STEP = 2**53  # the Lua side holds steps as doubles
_HEAD = struct.Struct("<4sHIB")  # magic, format version, fingerprint, model id length
_POS = struct.Struct("<qqdQ")  # step, offset, timestamp, source
_OLD_POS = struct.Struct("<qqd")  # format 1: step, offset, timestamp


def fingerprint(layout: StateLayout) -> int:
    """CRC32 of the ring dtype, ring shapes and stats size."""
    tag = _FINGERPRINT_TAG[layout.ring_dtype]
    text = f"{tag}|{list(layout.ring_shapes)}|{layout.stats_size}"
    if layout.stats_key:  # the stats' slices, where they are not the first versioned ones
        text += f"|{layout.stats_key}"
    return zlib.crc32(text.encode("ascii"))


def to_stored(values: npt.ArrayLike, ring_dtype: str) -> npt.NDArray[np.generic]:
    """float32 ring values as stored for ``ring_dtype`` (a flat little-endian array); values
    already in that stored form (``STORED_DTYPE``: float16, or bfloat16's bits as uint16,
    as ``Detector.delta`` gives them) are returned as they are, flattened.

    bfloat16: the upper 16 bits of each float32, rounded to nearest even (NaN stays NaN),
    which is what ``torch`` does converting to ``torch.bfloat16``. float8_e5m2: ``torch``'s
    rounding to ``torch.float8_e5m2`` (to nearest, ties to even; what the detector's rings
    do), as its bits."""
    if isinstance(values, np.ndarray) and values.dtype == STORED_DTYPE[ring_dtype]:
        return values.reshape(-1)  # already stored as the dtype stores them
    if ring_dtype == "float8_e5m2":
        wide = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
        e5m2: npt.NDArray[np.generic] = wide.to(torch.float8_e5m2).view(torch.uint8).numpy()
        return e5m2
    if ring_dtype != "bfloat16":
        with np.errstate(over="ignore"):  # float16 beyond 65,504 is inf, as in torch
            same: npt.NDArray[np.generic] = np.asarray(values, dtype=STORED_DTYPE[ring_dtype])
            return same.reshape(-1)
    bits = np.ascontiguousarray(values, dtype="<f4").reshape(-1).view("<u4")
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))) >> 16
    out: npt.NDArray[np.generic] = rounded.astype("<u2")
    nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    if nan.any():
        out[nan] = ((bits[nan] >> 16) | 0x0040).astype("<u2")
    return out


def as_float16(stored: npt.NDArray[np.generic], ring_dtype: str) -> npt.NDArray[np.float16]:
    """Stored float16 or float8_e5m2 ring values as float16 (exact for both)."""
    if ring_dtype == "float8_e5m2":
        return float8_as_float16(stored)
    return stored.astype(np.float16, copy=False)


def from_stored(stored: npt.NDArray[np.generic], ring_dtype: str) -> F32:
    """The float32 values of stored ring values (a fresh, writable array)."""
    if ring_dtype == "float8_e5m2":
        return as_float16(stored, ring_dtype).astype(np.float32)
    if ring_dtype != "bfloat16":
        return stored.astype(np.float32)
    return (stored.astype("<u4") << np.uint32(16)).view("<f4").astype(np.float32, copy=False)


def describe_header(meta: bytes) -> str:
    """Human-readable 'who wrote this' of a stored meta record, for error messages."""
    if len(meta) < _HEAD.size or meta[:4] != MAGIC:
        return "bytes that are not a tcnad state"
    _, version, fp, n = _HEAD.unpack_from(meta)
    if version not in (FORMAT_VERSION, OLD_FORMAT_VERSION):
        return f"format version {version}"
    model = meta[_HEAD.size : _HEAD.size + n].decode("utf-8", "replace")
    return f"model {model!r} (format {version}, layout {fp:08x})"


@dataclass(frozen=True)
class Known:
    """A meta record header that a codec reads: the record's size, how its body begins
    (``pos``: format 2 or 1), the dtype of the rings stored with it, and how its stats
    become the codec's layout's (None: they are of that layout)."""

    header: bytes
    meta_size: int
    pos: struct.Struct
    ring_dtype: str
    upgrade: Callable[[F64], F64] | None = None


@dataclass(frozen=True)
class RingWrite:
    """One contiguous write into the rings blob: ``length`` bytes from the update's row
    bytes at ``src`` go to byte ``dst`` of the rings blob."""

    dst: int
    src: int
    length: int


class StateCodec:
    """Encodes and decodes one layout's states; see the module docstring for the bytes."""

    def __init__(self, layout: StateLayout) -> None:
        model = layout.model_id.encode("utf-8")
        if not model or len(model) > 255:
            raise InvalidUpdate(f"model id must be 1..255 UTF-8 bytes, got {layout.model_id!r}")
        self.layout = layout
        self.header = _HEAD.pack(MAGIC, FORMAT_VERSION, fingerprint(layout), len(model)) + model
        self.body_size = _POS.size + 8 * layout.stats_size
        self.meta_size = len(self.header) + self.body_size
        old = _HEAD.pack(MAGIC, OLD_FORMAT_VERSION, fingerprint(layout), len(model)) + model
        self.old_header = old
        self.old_meta_size = len(old) + _OLD_POS.size + 8 * layout.stats_size
        self.known = self._known(model)
        self.ring_dtype = layout.ring_dtype
        self.stored_dtype = STORED_DTYPE[layout.ring_dtype]
        self.itemsize = layout.ring_itemsize
        self.row_bytes = tuple(ch * self.itemsize for _, ch in layout.ring_shapes)
        bases, pos = [], 0
        for (length, _), row in zip(layout.ring_shapes, self.row_bytes, strict=True):
            bases.append(pos)
            pos += length * row
        self.ring_base = tuple(bases)
        self._values = pos // self.itemsize  # ring values of one stream
        self._delta_sizes: dict[int, int] = {}  # floats of a delta's rows, by steps

    def _known(self, model: bytes) -> dict[bytes, Known]:
        """Every header this codec reads, by its bytes: this layout's, and each of its
        stats layouts (this one and ``StateLayout.older``) with each ring dtype, in format
        2 and in format 1 (own ring dtype and stats first, which a CRC32 collision keeps)."""
        lay = self.layout
        stats: list[tuple[int, str, Callable[[F64], F64] | None]]
        stats = [(lay.stats_size, lay.stats_key, None)]
        stats += [(o.stats_size, o.stats_key, o.upgrade) for o in lay.older]
        dtypes = [lay.ring_dtype, *(d for d in RING_DTYPES if d != lay.ring_dtype)]
        out: dict[bytes, Known] = {}
        for dtype in dtypes:
            for size, key, upgrade in stats:
                was = replace(lay, ring_dtype=dtype, stats_size=size, stats_key=key, older=())
                for version, pos in ((FORMAT_VERSION, _POS), (OLD_FORMAT_VERSION, _OLD_POS)):
                    head = _HEAD.pack(MAGIC, version, fingerprint(was), len(model)) + model
                    meta_size = len(head) + pos.size + 8 * size
                    out.setdefault(head, Known(head, meta_size, pos, dtype, upgrade))
        return out

    def older_metas(self) -> list[tuple[Known, bool]]:
        """The known headers other than this layout's own (format 2 and 1), each with
        whether its rings are of another dtype (a save may not write rows into those)."""
        own = (self.header, self.old_header)
        return [(k, k.ring_dtype != self.ring_dtype) for h, k in self.known.items() if h not in own]

    def read(self, meta: bytes) -> Known | None:
        """The known header ``meta`` begins with, if ``meta`` has its size; None otherwise."""
        known = self.known.get(meta[: len(self.header)])
        return known if known is not None and len(meta) == known.meta_size else None

    # ---------------------------------------------------------------- encode
    def encode_body(
        self, step: int, offset: int, timestamp: float, stats: F64, source: int = UNKNOWN_SOURCE
    ) -> bytes:
        """Body of the meta record (no header). stats: ``(stats_size,)``."""
        if stats.shape != (self.layout.stats_size,):
            raise InvalidUpdate(f"stats shape {stats.shape} != ({self.layout.stats_size},)")
        if not 0 <= source < 2**64:
            raise InvalidUpdate(f"source must be an unsigned 64-bit id, got {source}")
        pos = _POS.pack(step, offset, timestamp, source)
        return pos + stats.astype("<f8", copy=False).tobytes()

    def encode_meta(
        self, step: int, offset: int, timestamp: float, stats: F64, source: int = UNKNOWN_SOURCE
    ) -> bytes:
        return self.header + self.encode_body(step, offset, timestamp, stats, source)

    def encode_rings(self, rings: tuple[F32, ...]) -> bytes:
        """All rings, each ``(L_j, C_j)``, as one blob of ``layout.ring_bytes`` bytes."""
        self._check_ring_count(len(rings))
        parts = []
        for ring, shape in zip(rings, self.layout.ring_shapes, strict=True):
            if ring.shape != shape:
                raise InvalidUpdate(f"ring shape {ring.shape} != {shape}")
            parts.append(to_stored(ring, self.ring_dtype).tobytes())
        return b"".join(parts)

    def encode_rows(self, delta: StateDelta) -> bytes:
        """The changed ring rows of ``delta`` as stored: ring after ring, in time order."""
        n = delta.step - delta.since_step
        want = self._delta_sizes.get(n)
        if want is None:
            want = delta_size(self.layout.ring_shapes, n)
            if len(self._delta_sizes) < 4096:
                self._delta_sizes[n] = want
        rows = delta.rows
        if not isinstance(rows, np.ndarray) or rows.shape != (want,):
            shape = getattr(rows, "shape", type(rows).__name__)
            raise InvalidUpdate(
                f"rows of steps {delta.since_step}->{delta.step} have shape {shape}, the "
                f"layout needs ({want},)"
            )
        if rows.dtype != self.stored_dtype and rows.dtype.kind != "f":
            raise InvalidUpdate(
                f"rows of steps {delta.since_step}->{delta.step} are {rows.dtype}: the layout "
                f"takes float values or its {self.ring_dtype} rings' stored form"
            )
        return to_stored(rows, self.ring_dtype).tobytes()

    def encode_update(self, update: StreamUpdate) -> tuple[bytes, bytes]:
        """``(meta body, ring rows)`` of a validated update."""
        d = update.delta
        if not 0 <= d.since_step <= d.step < MAX_STEP:
            raise InvalidUpdate(
                f"stream {update.stream!r}: steps {d.since_step}->{d.step} out of range"
            )
        body = self.encode_body(d.step, update.offset, update.timestamp, d.stats, update.source)
        return body, self.encode_rows(d)

    def ring_writes(self, since_step: int, step: int) -> list[RingWrite]:
        """Where the rows of a delta ``since_step -> step`` go (a wrapping range splits in
        two). The Lua save script computes exactly the same."""
        writes, src = [], 0
        for (length, _), row, base in zip(
            self.layout.ring_shapes, self.row_bytes, self.ring_base, strict=True
        ):
            n = min(step - since_step, length)
            if n <= 0:
                continue
            start = (step - n) % length
            first = min(n, length - start)
            writes.append(RingWrite(base + start * row, src, first * row))
            if n > first:
                writes.append(RingWrite(base, src + first * row, (n - first) * row))
            src += n * row
        return writes

    # ---------------------------------------------------------------- decode
    @staticmethod
    def body_step(body: bytes) -> int:
        """Step of a meta body of format 2 (its first field)."""
        return int(_POS.unpack_from(body)[0])

    def stored_step(self, meta: bytes) -> int | None:
        """Step of a known, well-sized meta record; None otherwise."""
        return None if self.read(meta) is None else int(_POS.unpack_from(meta, len(self.header))[0])

    def decode(self, stream: str, meta: bytes | None, rings: bytes | None) -> StreamRecord | None:
        """The stored record, as a state of this layout, or None when the stream is absent.

        Raises ``IncompatibleState`` (other writer) or ``CorruptState`` (bad sizes).
        """
        if meta is None:
            return None
        known = self.known.get(meta[: len(self.header)])
        if known is None:
            raise IncompatibleState(
                stream,
                f"written by {describe_header(meta)}, this worker runs "
                f"{describe_header(self.header)}",
            )
        if len(meta) != known.meta_size:
            raise CorruptState(stream, f"meta is {len(meta)} bytes, expected {known.meta_size}")
        head, pos = len(self.header), known.pos
        step, offset, timestamp, *rest = pos.unpack_from(meta, head)
        source = rest[0] if rest else UNKNOWN_SOURCE
        blob = rings or b""
        ring_bytes = self._values * RING_ITEMSIZE[known.ring_dtype]
        if len(blob) > ring_bytes or (step > 0 and not blob):
            raise CorruptState(
                stream,
                f"rings are {len(blob)} bytes at step {step}, "
                f"expected at most {ring_bytes} and at least 1",
            )
        stats = np.frombuffer(meta, dtype="<f8", offset=head + pos.size).astype(np.float64)
        if known.upgrade is not None:
            stats = known.upgrade(stats)
            if stats.shape != (self.layout.stats_size,):
                raise IncompatibleState(stream, f"stats migrated to {stats.shape}")
        state = StreamState(
            step=int(step), rings=self.decode_rings(blob, known.ring_dtype), stats=stats
        )
        return StreamRecord(stream, state, int(offset), float(timestamp), int(source))

    def decode_rings(
        self, blob: bytes, ring_dtype: str | None = None
    ) -> tuple[npt.NDArray[Any], ...]:
        """Rings ``(L_j, C_j)`` from a possibly short blob (missing tail = zeros) stored in
        ``ring_dtype`` (None: this layout's), as this layout's ring dtype holds them
        (another dtype's values are cast through float32); writable views into one fresh
        array. float32, except in a float16 or float8 layout: float16, the same values
        without a widening that a detector's rings would only round back."""
        dtype = ring_dtype or self.ring_dtype
        w = RING_ITEMSIZE[dtype]
        values = np.frombuffer(blob, dtype=STORED_DTYPE[dtype], count=len(blob) // w)
        full: npt.NDArray[Any]
        if self.ring_dtype == dtype and dtype in _AS_FLOAT16:
            full = np.zeros(self._values, dtype=np.float16)
            full[: len(values)] = as_float16(values, dtype)
        elif len(values) == self._values:
            full = from_stored(values, dtype)  # one copy, writable
        else:
            full = np.zeros(self._values, dtype=np.float32)
            full[: len(values)] = from_stored(values, dtype)
        if dtype != self.ring_dtype:
            stored = to_stored(full, self.ring_dtype)
            if self.ring_dtype in _AS_FLOAT16:
                full = as_float16(stored, self.ring_dtype).copy()
            else:
                full = from_stored(stored, self.ring_dtype)
        out = []
        for (length, ch), base in zip(self.layout.ring_shapes, self.ring_base, strict=True):
            at = base // self.itemsize
            out.append(full[at : at + length * ch].reshape(length, ch))
        return tuple(out)

    def _check_ring_count(self, n: int) -> None:
        if n != len(self.layout.ring_shapes):
            raise InvalidUpdate(f"{n} rings, layout has {len(self.layout.ring_shapes)}")


def state_delta(state: StreamState, since_step: int) -> StateDelta:
    """The delta ``since_step -> state.step`` read out of a full state's rings.

    Row ``i`` of ring ``j`` is the input of time ``state.step - n_j + i`` (slot convention).
    """
    rows = []
    for ring in state.rings:
        length = ring.shape[0]
        n = min(state.step - since_step, length)
        start = (state.step - n) % length
        idx = (start + np.arange(n)) % length
        rows.append((start, ring[idx].astype(np.float32)))
    return StateDelta.from_ring_rows(since_step, state.step, state.stats, rows)
