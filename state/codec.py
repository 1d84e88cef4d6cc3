"""Versioned bytes for one stream's state: a small meta record and one flat ring blob.

meta = header | body
  header = b"TCNS" | format version u16 | layout fingerprint u32 | len u8 | model id
  body   = step i64 | offset i64 | timestamp f64 | source u64 | stats f64 * stats_size
           (little-endian; ``source`` names the topic partition of ``offset``)
rings  = ring 0 | ring 1 | ...  each row-major ``(L_j, C_j)`` in the layout's ring dtype,
         little-endian: float32 (4 bytes), float16 or bfloat16 (2 bytes; bfloat16 as the
         upper 16 bits of the float32, rounded to nearest even), so slot ``s`` of ring ``j``
         is the ``C_j * w`` bytes at ``ring_base[j] + s * C_j * w`` (``w`` the value's size).

The header says who wrote the state; a reader compares it byte for byte with its own, so a
state of another model id, format version, ring dtype or shapes is never used silently. The
one exception is format 1, the same body without ``source``: it is read as a state of
unknown source and rewritten as format 2 by its next save, so an upgrade resets nothing. A
rings blob shorter than the layout (slots never written) reads as zeros, which is the
causal zero padding of the slot convention in ``tcnad.detector.state``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F32, F64
from tcnad.detector.state import StateDelta, StateLayout, StreamState, delta_size
from tcnad.state.errors import CorruptState, IncompatibleState, InvalidUpdate
from tcnad.state.types import UNKNOWN_SOURCE, StreamRecord, StreamUpdate

FORMAT_VERSION = 2
OLD_FORMAT_VERSION = 1  # read (source unknown) and upgraded on the next save
MAGIC = b"TCNS"
RING_DTYPE = "<f4"  # the default ring dtype's stored form
# Each ring dtype's stored form, and its name in the layout fingerprint (float32's is the
# one used before there was a choice, so states stored then stay readable).
STORED_DTYPE = {"float32": "<f4", "float16": "<f2", "bfloat16": "<u2"}
_FINGERPRINT_TAG = {"float32": "<f4", "float16": "<f2", "bfloat16": "<bf16"}
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
    """float32 ring values as stored for ``ring_dtype`` (a flat little-endian array).

    bfloat16: the upper 16 bits of each float32, rounded to nearest even (NaN stays NaN),
    which is what ``torch`` does converting to ``torch.bfloat16``."""
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


def from_stored(stored: npt.NDArray[np.generic], ring_dtype: str) -> F32:
    """The float32 values of stored ring values (a fresh, writable array)."""
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
        self.older_metas = self._older_metas(model)
        self.ring_dtype = layout.ring_dtype
        self.itemsize = layout.ring_itemsize
        self._stored = STORED_DTYPE[layout.ring_dtype]
        self.row_bytes = tuple(ch * self.itemsize for _, ch in layout.ring_shapes)
        bases, pos = [], 0
        for (length, _), row in zip(layout.ring_shapes, self.row_bytes, strict=True):
            bases.append(pos)
            pos += length * row
        self.ring_base = tuple(bases)
        self._delta_sizes: dict[int, int] = {}  # floats of a delta's rows, by steps

    def _older_metas(self, model: bytes) -> tuple[tuple[bytes, int], ...]:
        """``(header, meta size)`` of every meta record this layout migrates: each older
        known stats layout (``StateLayout.older``) in format 2 and in format 1."""
        out = []
        for old in self.layout.older:
            was = replace(self.layout, stats_size=old.stats_size, stats_key=old.stats_key, older=())
            for version, pos in ((FORMAT_VERSION, _POS), (OLD_FORMAT_VERSION, _OLD_POS)):
                head = _HEAD.pack(MAGIC, version, fingerprint(was), len(model)) + model
                out.append((head, len(head) + pos.size + 8 * old.stats_size))
        return tuple(out)

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
    def body_offset(self, meta: bytes) -> int | None:
        """Where the body of a compatible, well-sized meta record starts (format 2 or 1);
        None for anything else."""
        if len(meta) == self.meta_size and meta.startswith(self.header):
            return len(self.header)
        if len(meta) == self.old_meta_size and meta.startswith(self.old_header):
            return len(self.old_header)
        return None

    def migrated(self, meta: bytes) -> bytes | None:
        """A meta record of this model and format written under an older stats layout that
        the layout knows (``StateLayout.migrate``), rewritten as one of this layout; None
        for any other record."""
        if len(meta) < _HEAD.size or meta.startswith((self.header, self.old_header)):
            return None
        magic, version, fp, n = _HEAD.unpack_from(meta)
        model = self.header[_HEAD.size :]
        head = _HEAD.size + n
        if magic != MAGIC or meta[_HEAD.size : head] != model:
            return None
        pos = {FORMAT_VERSION: _POS, OLD_FORMAT_VERSION: _OLD_POS}.get(version)
        floats, extra = divmod(len(meta) - head - (pos.size if pos else 0), 8)
        if pos is None or extra or floats <= 0:
            return None
        stats = np.frombuffer(meta, dtype="<f8", offset=head + pos.size).astype(np.float64)
        new = self.layout.migrate(stats, fp, fingerprint)
        if new is None or new.shape != (self.layout.stats_size,):
            return None
        mine = self.header if version == FORMAT_VERSION else self.old_header
        return mine + meta[head : head + pos.size] + new.astype("<f8").tobytes()

    def stored_step(self, meta: bytes) -> int | None:
        """Step of a compatible, well-sized meta record; None otherwise."""
        meta = self.migrated(meta) or meta
        at = self.body_offset(meta)
        return None if at is None else int(_POS.unpack_from(meta, at)[0])

    def decode(self, stream: str, meta: bytes | None, rings: bytes | None) -> StreamRecord | None:
        """The stored record, or None when the stream is absent.

        Raises ``IncompatibleState`` (other writer) or ``CorruptState`` (bad sizes).
        """
        if meta is None:
            return None
        meta = self.migrated(meta) or meta
        if meta.startswith(self.header):
            size, pos = self.meta_size, _POS
        elif meta.startswith(self.old_header):
            size, pos = self.old_meta_size, _OLD_POS
        else:
            raise IncompatibleState(
                stream,
                f"written by {describe_header(meta)}, this worker runs "
                f"{describe_header(self.header)}",
            )
        if len(meta) != size:
            raise CorruptState(stream, f"meta is {len(meta)} bytes, expected {size}")
        head = size - pos.size - 8 * self.layout.stats_size
        step, offset, timestamp, *rest = pos.unpack_from(meta, head)
        source = rest[0] if rest else UNKNOWN_SOURCE
        blob = rings or b""
        if len(blob) > self.layout.ring_bytes or (step > 0 and not blob):
            raise CorruptState(
                stream,
                f"rings are {len(blob)} bytes at step {step}, "
                f"expected at most {self.layout.ring_bytes} and at least 1",
            )
        stats = np.frombuffer(meta, dtype="<f8", offset=head + pos.size)
        state = StreamState(
            step=int(step),
            rings=self.decode_rings(blob),
            stats=stats.astype(np.float64),
        )
        return StreamRecord(stream, state, int(offset), float(timestamp), int(source))

    def decode_rings(self, blob: bytes) -> tuple[F32, ...]:
        """Rings ``(L_j, C_j)`` float32 from a possibly short blob (missing tail = zeros);
        writable views into one fresh array."""
        w = self.itemsize
        values = np.frombuffer(blob, dtype=self._stored, count=len(blob) // w)
        if len(blob) == self.layout.ring_bytes:
            full = from_stored(values, self.ring_dtype)  # one copy, writable
        else:
            full = np.zeros(self.layout.ring_bytes // w, dtype=np.float32)
            full[: len(values)] = from_stored(values, self.ring_dtype)
        out = []
        for (length, ch), base in zip(self.layout.ring_shapes, self.ring_base, strict=True):
            out.append(full[base // w : base // w + length * ch].reshape(length, ch))
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
