"""What both stores share: the incompatible-state policy, the save decision, counters, and
the rings held between a converting load and the save that stores them whole."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tcnad.state.codec import StateCodec
from tcnad.state.errors import IncompatibleState
from tcnad.state.types import LoadResult, StreamRecord, StreamUpdate

log = logging.getLogger(__name__)

OnIncompatible = Literal["reset", "error"]
CONVERTED_BYTES = 256 * 1024 * 1024
"""Most bytes of rings that a store holds for streams loaded converted and not saved since;
beyond it the oldest are dropped (such a stream's next save is fenced, and its reload
converts it again)."""
BASES_BYTES = 32 * 1024 * 1024
"""Most bytes of meta bodies that a Redis store holds as the bases of stats patches (about
19,000 streams of the shipped layout); beyond it the least recently used are dropped, and
such a stream's next save sends its body whole."""


@dataclass
class StoreStats:
    """Running counters of one store. ``bytes_sent``: RESP bytes of the commands sent
    (Redis) or of the payloads written (memory)."""

    round_trips: int = 0
    commands: int = 0
    bytes_sent: int = 0
    resets: int = 0
    fenced: int = 0
    saved: int = 0
    converted: int = 0  # states loaded from rings of another dtype, converted


class Outcome(enum.IntEnum):
    """Result of one stream's save, as the Lua script returns it."""

    FENCED = 0
    APPLIED = 1
    ALREADY_APPLIED = 2  # stored meta already equals the update's: a retried save


def check_policy(on_incompatible: str) -> OnIncompatible:
    if on_incompatible == "reset":
        return "reset"
    if on_incompatible == "error":
        return "error"
    raise ValueError(f"on_incompatible must be 'reset' or 'error', got {on_incompatible!r}")


def unique(streams: Iterable[str]) -> list[str]:
    """Streams in first-seen order without duplicates."""
    return list(dict.fromkeys(streams))


def decide(
    codec: StateCodec,
    policy: OnIncompatible,
    stored: bytes | None,
    since: int,
    body: bytes,
    whole: bool = False,
) -> Outcome:
    """Whether an update from ``since`` with meta ``body`` may replace ``stored``; ``whole``:
    it carries the whole rings, not only the changed rows.

    Absent counts as step 0. A stored state of another model/format (or corrupt) counts as
    absent under the "reset" policy and as a fence under "error". A state the codec reads as
    one of its layout (format 1, an older stats layout, another ring dtype) is a state like
    any other, which the update rewrites in this layout; but rows cannot be written into
    rings of another dtype, so a save that is not whole is fenced there (unless from 0).
    """
    if stored is None:
        return Outcome.APPLIED if since == 0 else Outcome.FENCED
    known = codec.read(stored)
    if known is None:
        return Outcome.APPLIED if since == 0 and policy == "reset" else Outcome.FENCED
    if codec.stored_step(stored) == since:
        other = known.ring_dtype != codec.ring_dtype
        return Outcome.FENCED if other and not whole and since != 0 else Outcome.APPLIED
    if stored.startswith(codec.header) and stored[len(codec.header) :] == body:
        return Outcome.ALREADY_APPLIED
    return Outcome.FENCED


class Converted:
    """Streams loaded from a state whose rings are of another dtype, converted, and not
    saved since: the step loaded and the rings as loaded, in the codec's dtype. The stored
    rings cannot take rows of this dtype, so the stream's next save from that step sends
    the rings whole (these, with the save's rows written in), and that save stores the
    state in this layout. At most ``budget`` bytes of rings are held (oldest dropped)."""

    def __init__(self, codec: StateCodec, budget: int = CONVERTED_BYTES) -> None:
        self.codec = codec
        self.budget = budget
        self.held: dict[str, tuple[int, bytes]] = {}
        self._bytes = 0

    def loaded(self, stream: str, meta: bytes | None, record: StreamRecord | None) -> bool:
        """Note a stream's load: hold its rings if ``meta`` has rings of another dtype,
        else forget any held for it. True if held."""
        self.forget(stream)
        known = None if meta is None or record is None else self.codec.read(meta)
        if known is None or record is None or known.ring_dtype == self.codec.ring_dtype:
            return False
        blob = self.codec.encode_rings(record.state.rings)
        self.held[stream] = (record.state.step, blob)
        self._bytes += len(blob)
        while self._bytes > self.budget and len(self.held) > 1:
            self.forget(next(iter(self.held)))
        return True

    def forget(self, stream: str) -> None:
        held = self.held.pop(stream, None)
        if held is not None:
            self._bytes -= len(held[1])

    def whole(self, update: StreamUpdate, rows: bytes) -> bytes | None:
        """The whole rings blob after ``update`` (its encoded ``rows`` written into the held
        rings) if it saves a held stream from the step loaded; None otherwise."""
        held = self.held.get(update.stream)
        if held is None or held[0] != update.delta.since_step:
            return None
        blob = bytearray(held[1])
        for w in self.codec.ring_writes(update.delta.since_step, update.delta.step):
            blob[w.dst : w.dst + w.length] = rows[w.src : w.src + w.length]
        return bytes(blob)


def collect(
    codec: StateCodec,
    policy: OnIncompatible,
    stats: StoreStats,
    rows: Sequence[tuple[str, bytes | None, bytes | None]],
    converted: Converted,
) -> LoadResult:
    """A ``LoadResult`` from ``(stream, meta, rings)`` rows, applying the policy.

    Under "reset" an unusable stored state is listed in ``missing`` (start fresh) and also
    in ``reset`` (so the caller can count it); under "error" it raises ``IncompatibleState``.
    A state of another ring dtype is converted, and ``converted`` holds its rings.
    """
    records: dict[str, StreamRecord] = {}
    missing: list[str] = []
    reset: list[str] = []
    n_converted = 0
    for stream, meta, rings in rows:
        try:
            record = codec.decode(stream, meta, rings)
        except IncompatibleState as exc:
            if policy == "error":
                raise
            if not reset:
                log.warning("state reset stream=%s reason=%s", stream, exc.reason)
            converted.forget(stream)
            reset.append(stream)
            missing.append(stream)  # a reset stream starts fresh, like a new one
            continue
        n_converted += converted.loaded(stream, meta, record)
        if record is None:
            missing.append(stream)
        else:
            records[stream] = record
    if n_converted:
        log.info("state converted streams=%d to ring dtype %s", n_converted, codec.ring_dtype)
    stats.converted += n_converted
    stats.resets += len(reset)
    if len(reset) > 1:
        log.warning("state reset streams=%d (first logged above)", len(reset))
    return LoadResult(records, missing, reset)


class Bases:
    """The meta body each stream has stored, as this store last loaded or saved it: the
    base its next save's stats patch is computed from (``tcnad.state.patch``). Only bodies
    of the codec's own header are held (a state of an older layout or ring dtype is
    rewritten whole by its next save). At most ``budget`` bytes, least recently used
    dropped first."""

    def __init__(self, codec: StateCodec, budget: int = BASES_BYTES) -> None:
        self.codec = codec
        self.limit = budget // max(1, codec.body_size)  # 0: hold none, send bodies whole
        self.held: dict[str, bytes] = {}

    def loaded(self, stream: str, meta: bytes | None) -> None:
        """Note what a load found stored for ``stream``."""
        known = None if meta is None else self.codec.read(meta)
        if meta is not None and known is not None and known.header == self.codec.header:
            self.put(stream, meta[len(known.header) :])
        else:
            self.forget(stream)

    def put(self, stream: str, body: bytes) -> None:
        if not self.limit:
            return
        self.held.pop(stream, None)
        self.held[stream] = body
        if len(self.held) > self.limit:
            del self.held[next(iter(self.held))]

    def forget(self, stream: str) -> None:
        self.held.pop(stream, None)

    def base(self, stream: str, since_step: int) -> bytes | None:
        """The body held for ``stream`` if it is of step ``since_step`` (> 0)."""
        body = self.held.get(stream)
        if body is None or since_step == 0 or self.codec.body_step(body) != since_step:
            return None
        return body
