"""What both stores share: the incompatible-state policy, the save decision, counters."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tcnad.state.codec import StateCodec
from tcnad.state.errors import IncompatibleState
from tcnad.state.types import LoadResult, StreamRecord

log = logging.getLogger(__name__)

OnIncompatible = Literal["reset", "error"]


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
    codec: StateCodec, policy: OnIncompatible, stored: bytes | None, since: int, body: bytes
) -> Outcome:
    """Whether an update from ``since`` with meta ``body`` may replace ``stored``.

    Absent counts as step 0. A stored state of another model/format (or corrupt) counts as
    absent under the "reset" policy and as a fence under "error". A format 1 state of the
    same layout is a state like any other (the update rewrites it as format 2).
    """
    if stored is None:
        return Outcome.APPLIED if since == 0 else Outcome.FENCED
    current = codec.stored_step(stored)
    if current is None:
        return Outcome.APPLIED if since == 0 and policy == "reset" else Outcome.FENCED
    if current == since:
        return Outcome.APPLIED
    if stored.startswith(codec.header) and stored[len(codec.header) :] == body:
        return Outcome.ALREADY_APPLIED
    return Outcome.FENCED


def collect(
    codec: StateCodec,
    policy: OnIncompatible,
    stats: StoreStats,
    rows: Sequence[tuple[str, bytes | None, bytes | None]],
) -> LoadResult:
    """A ``LoadResult`` from ``(stream, meta, rings)`` rows, applying the policy.

    Under "reset" an unusable stored state is listed in ``missing`` (start fresh) and also
    in ``reset`` (so the caller can count it); under "error" it raises ``IncompatibleState``.
    """
    records: dict[str, StreamRecord] = {}
    missing: list[str] = []
    reset: list[str] = []
    for stream, meta, rings in rows:
        try:
            record = codec.decode(stream, meta, rings)
        except IncompatibleState as exc:
            if policy == "error":
                raise
            if not reset:
                log.warning("state reset stream=%s reason=%s", stream, exc.reason)
            reset.append(stream)
            missing.append(stream)  # a reset stream starts fresh, like a new one
            continue
        if record is None:
            missing.append(stream)
        else:
            records[stream] = record
    stats.resets += len(reset)
    if len(reset) > 1:
        log.warning("state reset streams=%d (first logged above)", len(reset))
    return LoadResult(records, missing, reset)
