"""Decode and validate raw Kafka records into readings; everything else becomes a dead letter.

``decode_batch`` never raises on input: every record comes back either as a ``Decoded``
reading or as a ``DeadLetter`` carrying the original key/value bytes and a reason code,
so ``len(good) + len(bad) == len(records)``. The fast path is ``json`` + a few type checks
(the same rules as ``topology.schemas.Reading``, shared functions), not a pydantic pass.

Reason codes (``REASONS``):

- ``undecodable``: null value (tombstone), not UTF-8, not JSON, nesting too deep;
- ``too_large``: the value is longer than ``max_bytes``;
- ``too_deep``: arrays/objects nested deeper than ``MAX_DEPTH``;
- ``invalid``: not an object, duplicate keys, a missing field, a wrong type, a bad stream
  id, an unparsable timestamp;
- ``non_finite``: NaN or infinity in ``ts`` or ``value`` (also as the strings "NaN",
  "Infinity", ...), or a number that overflows a float64;
- ``out_of_range``: finite but beyond ``MAX_ABS_VALUE`` / ``MAX_ABS_TS``;
- ``wrong_width``: the number of values differs from the model's ``n_inputs``;
- ``key_mismatch``: the record has a key and it is not the body's stream id (UTF-8);
- ``not_after_last``: timestamp not after the stream's last one (decided by the worker,
  which knows each stream's last timestamp; not produced here).
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from topology.schemas import (
    MAX_ABS_VALUE,
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    DeadLetter,
    Reading,
    WireError,
    check_stream,
    parse_ts,
    parse_values,
)

__all__ = [
    "REASONS",
    "Decoded",
    "RawRecord",
    "dead_letter",
    "decode_batch",
    "decode_record",
]

logger = logging.getLogger(__name__)

REASONS = (
    "undecodable",
    "too_large",
    "too_deep",
    "invalid",
    "non_finite",
    "out_of_range",
    "wrong_width",
    "key_mismatch",
    "not_after_last",
)
MAX_DETAIL = 300  # characters of a dead letter's detail


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kafka record as fetched: bytes untouched. timestamp_ms is the broker/producer time."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid reading and the record it came from."""

    record: RawRecord
    reading: Reading


def _b64(data: Any) -> str | None:
    if data is None:
        return None
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return base64.b64encode(bytes(data)).decode("ascii")


def dead_letter(record: RawRecord, reason: str, detail: str) -> DeadLetter:
    """The dead-letter record for ``record``: reason code, detail and the original bytes."""
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    return DeadLetter(
        reason=reason,
        detail=detail,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key_b64=_b64(record.key),
        value_b64=_b64(record.value),
    )


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise WireError("invalid", f"duplicate key {k[:40]!r}")
            seen.add(k)
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates)
_PLAIN = json.JSONDecoder()
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _nesting_depth(value: bytes) -> int:
    """Deepest array/object nesting in JSON text (strings skipped); exact for valid JSON."""
    brackets = _STRING.sub(b"", value).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def _surely_no_duplicates(obj: dict[str, Any], value: bytes) -> bool:
    """True when the text of ``obj`` cannot hold a duplicate key. With no backslash, no
    string contains a quote, so the quotes count the string tokens exactly: one per key
    (duplicates included) and one per string value (overwritten ones included)."""
    if b"\\" in value:
        return False
    strings = len(obj)
    for x in obj.values():
        if type(x) is str:
            strings += 1
    return value.count(b'"') == 2 * strings


# Build readings without a second validation pass: the fields were checked by the same
# functions the model's validators call. Falls back to model_construct if pydantic's
# internals ever differ (checked once at import).
_new = object.__new__
_set = object.__setattr__
# One shared fields-set: frozen models never add to it, and pydantic copies it on model_copy.
_FIELDS_SET = {"stream", "ts", "values"}


def _fast_reading(stream: str, ts: float, values: tuple[float, ...]) -> Reading:
    r = _new(Reading)
    _set(r, "__dict__", {"stream": stream, "ts": ts, "values": values})
    _set(r, "__pydantic_fields_set__", _FIELDS_SET)
    _set(r, "__pydantic_extra__", None)
    _set(r, "__pydantic_private__", None)
    return r


def _slow_reading(stream: str, ts: float, values: tuple[float, ...]) -> Reading:
    return Reading.model_construct(stream=stream, ts=ts, values=values)


def _pick_builder() -> Any:
    try:
        probe = _fast_reading("probe", 1.0, (2.0,))
        if probe == Reading(stream="probe", ts=1.0, values=(2.0,)) and probe.model_dump() == {
            "stream": "probe",
            "ts": 1.0,
            "values": (2.0,),
        }:
            return _fast_reading
    except (AttributeError, TypeError) as exc:  # pragma: no cover - pydantic internals moved
        logger.warning("fast reading construction unavailable (%s); using model_construct", exc)
    return _slow_reading  # pragma: no cover


_build = _pick_builder()


def _parse_json(value: bytes | None, max_bytes: int) -> Any:
    if value is None:
        raise WireError("undecodable", "null value (tombstone)")
    if type(value) is not bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise WireError("undecodable", f"value is {type(value).__name__}, not bytes")
        value = bytes(value)
    if len(value) > max_bytes:
        raise WireError("too_large", f"value is {len(value)} bytes, max {max_bytes}")
    if value.count(b"[") + value.count(b"{") > MAX_DEPTH:
        depth = _nesting_depth(value)
        if depth > MAX_DEPTH:
            raise WireError("too_deep", f"JSON nesting depth {depth}, max {MAX_DEPTH}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("undecodable", f"not UTF-8: {exc}") from None
    try:
        obj = _PLAIN.decode(text)
        if type(obj) is dict and not _surely_no_duplicates(obj, value):
            obj = _DECODER.decode(text)  # rare: escapes or nested strings; check every key
        return obj
    except json.JSONDecodeError as exc:
        raise WireError("undecodable", f"not JSON: {exc}") from None
    except WireError:
        raise
    except RecursionError:
        raise WireError("undecodable", "JSON nesting too deep") from None
    except ValueError as exc:  # e.g. an integer literal with too many digits
        raise WireError("undecodable", f"not decodable JSON: {exc}") from None


def _check_key(key: bytes | None, stream: str) -> None:
    if key is None:
        return
    try:
        expected = stream.encode("utf-8")
    except UnicodeEncodeError:  # pragma: no cover - check_stream refuses surrogates
        raise WireError("invalid", "stream is not encodable as UTF-8") from None
    if key != expected:
        shown = bytes(key[:60]) if isinstance(key, (bytes, bytearray, memoryview)) else key
        raise WireError("key_mismatch", f"key {shown!r} differs from stream {stream[:60]!r}")


def decode_record(record: RawRecord, width: int, max_bytes: int = MAX_MESSAGE_BYTES) -> Reading:
    """One record to a Reading with ``values`` of shape ``(width,)``; raises WireError."""
    obj = _parse_json(record.value, max_bytes)
    if type(obj) is not dict:
        raise WireError("invalid", f"expected a JSON object, got {type(obj).__name__}")
    try:
        stream_raw, ts_raw, value_raw = obj["stream"], obj["ts"], obj["value"]
    except KeyError as exc:
        raise WireError("invalid", f"missing field {exc.args[0]!r}") from None
    stream = check_stream(stream_raw)
    _check_key(record.key, stream)
    ts = parse_ts(ts_raw)
    if (
        width == 1
        and type(value_raw) is float
        and math.isfinite(value_raw)
        and -MAX_ABS_VALUE <= value_raw <= MAX_ABS_VALUE
    ):
        values: tuple[float, ...] = (value_raw,)
    else:
        values = parse_values(value_raw)
        if len(values) != width:
            raise WireError("wrong_width", f"value has {len(values)} numbers, model takes {width}")
    reading: Reading = _build(stream, ts, values)
    return reading


def decode_batch(
    records: Sequence[RawRecord], width: int, max_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[list[Decoded], list[DeadLetter]]:
    """Split ``records`` into valid readings (in input order) and dead letters.

    ``width`` is the model's ``n_inputs``. Never raises because of record contents."""
    good: list[Decoded] = []
    bad: list[DeadLetter] = []
    for rec in records:
        try:
            good.append(Decoded(rec, decode_record(rec, width, max_bytes)))
        except WireError as exc:
            bad.append(dead_letter(rec, exc.reason, exc.detail))
        except Exception as exc:  # a bug here must not stop the stream: log, dead-letter
            logger.exception(
                "unexpected decode failure partition=%s[%s] offset=%s",
                rec.topic,
                rec.partition,
                rec.offset,
            )
            bad.append(dead_letter(rec, "invalid", f"{type(exc).__name__}: {exc}"))
    return good, bad
