"""Decode and validate raw Kafka records into readings; everything else becomes a dead letter.

``decode_batch`` never raises on input: every record comes back either as a ``Decoded``
reading or as a ``DeadLetter`` carrying the original key/value bytes and a reason code,
so ``len(good) + len(bad) == len(records)``. Common readings (short, flat, no escapes)
take one pass over the batch: msgspec's JSON decoder, typed to the three fields (a
stream string, numbers), and the rule predicates of ``tcnad.topology.wire.schemas``
(``is_stream_id``, ``in_bounds``, ``plain_values``), which decide.
Everything else goes through the complete rules: ``json`` with a duplicate-key check, then
the field functions that ``tcnad.topology.wire.schemas.Reading`` validates with, which
accept what the same predicates accept; so both paths and the model accept exactly the
same messages, and a refusal always gets its reason from the field functions.

Reason codes (``REASONS``):

- ``undecodable``: null value (tombstone), not UTF-8, not JSON;
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
import json
import logging
import operator
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import msgspec
import numpy as np

from tcnad.topology.wire.construct import build as build_reading
from tcnad.topology.wire.schemas import (
    MAX_ABS_TS,
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    DeadLetter,
    Reading,
    WireError,
    check_stream,
    in_bounds,
    is_stream_id,
    parse_ts,
    parse_values,
    plain_values,
)

__all__ = [
    "REASONS",
    "Decoded",
    "RawRecord",
    "dead_letter",
    "decode_batch",
    "decode_record",
    "raw_records",
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


class RawRecord(NamedTuple):
    """One Kafka record as fetched: bytes untouched. timestamp_ms is the broker/producer time.

    Immutable; a named tuple because one is built per reading and a tuple is the cheapest
    immutable record to build (a frozen dataclass sets each field through a slower path)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None


class Decoded(NamedTuple):
    """A valid reading and the record it came from (immutable, one per reading).

    The reading's fields are held flat, one tuple per reading, because the worker builds one
    per record it applies; ``reading`` builds the validated ``Reading`` model from them, for
    callers off the hot path::

        >>> rec = RawRecord("readings", 0, 7, None, b'{"stream":"s","ts":1,"value":2}', None)
        >>> (d,), _ = decode_batch([rec], 1)
        >>> d.stream, d.ts, d.values, d.reading
        ('s', 1.0, (2.0,), Reading(stream='s', ts=1.0, values=(2.0,)))
    """

    record: RawRecord
    stream: str
    ts: float
    values: tuple[float, ...]

    @property
    def reading(self) -> Reading:
        """The reading as the ``Reading`` model (built on each call: fields already valid)."""
        return build_reading(self.stream, self.ts, self.values)


_RAW_FIELDS = operator.attrgetter("topic", "partition", "offset", "key", "value", "timestamp")


def raw_records(fetched: Iterable[Iterable[Any]]) -> list[RawRecord]:
    """RawRecords of fetched records (lists of them, e.g. per partition), in order: aiokafka
    ``ConsumerRecord`` s are converted, RawRecords (what the worker's consumer thread makes
    of its fetches, ``BatchConsumerThread``) kept; the bytes are shared, not copied. One is
    built per record, so the fields are read by one ``attrgetter`` call and the tuple is
    made without the named tuple's Python-level ``__new__`` (half the time of
    ``RawRecord(...)``)."""
    out: list[RawRecord] = []
    new, fields, raw = tuple.__new__, _RAW_FIELDS, RawRecord
    for recs in fetched:
        out += [r if type(r) is raw else new(raw, fields(r)) for r in recs]
    return out


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
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, unrolled for speed
_DEPTH_STEP = np.zeros(256, dtype=np.int32)
_DEPTH_STEP[[ord("["), ord("{")]] = 1
_DEPTH_STEP[[ord("]"), ord("}")]] = -1


def _nesting_depth(value: bytes) -> int:
    """Deepest array/object nesting in JSON text (strings skipped); exact for valid JSON."""
    if b"\\" in value:  # escaped quotes: strip strings with the pattern
        steps = _DEPTH_STEP[np.frombuffer(_STRING.sub(b"", value), dtype=np.uint8)]
    else:  # no escapes: a byte is inside a string after an odd number of quotes
        chars = np.frombuffer(value, dtype=np.uint8)
        steps = _DEPTH_STEP[chars]
        steps[np.cumsum(chars == ord('"')) & 1 == 1] = 0
    return int(steps.cumsum().max(initial=0))


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


def _key_matches(key: bytes | None, stream: str) -> bool:
    """The key rule: no key, or the UTF-8 of the (valid, so encodable) stream id."""
    return key is None or key == stream.encode("utf-8")


def _check_key(key: bytes | None, stream: str) -> None:
    if not _key_matches(key, stream):
        shown = bytes(key[:60]) if isinstance(key, (bytes, bytearray, memoryview)) else key
        raise WireError("key_mismatch", f"key {shown!r} differs from stream {stream[:60]!r}")


_FAST_MAX_BYTES = 1024  # short enough that no nesting in it can threaten the stack


class _Common(msgspec.Struct, gc=False):
    """The fields of a reading as msgspec's JSON decoder types them: a first filter, not a
    rule. It refuses (and so sends to the complete rules) anything not shaped like a plain
    reading; what it takes, the rule predicates still decide on. Integers come as floats,
    which the predicates decide on alike (a float within the bounds is the same number)."""

    stream: str
    ts: float
    value: float | list[float]


_parse_common = msgspec.json.Decoder(_Common).decode


def _fast_pass(
    records: Sequence[RawRecord], width: int, limit: int
) -> tuple[list[Decoded], list[int]]:
    """The common case, one pass over the batch: short, escape-free objects with exactly
    the three fields, all passing the rule predicates. Returns their Decoded (in order) and
    the indexes of every other record, which the complete rules then decide (same outcome
    for valid input, exact reasons for invalid input). ``limit``: at most ``_FAST_MAX_BYTES``.
    The rules are the predicates of ``schemas``, called as they are; only lookups are hoisted,
    and a stream id that passed ``is_stream_id`` is remembered, with its UTF-8 for the key
    rule, for the rest of the batch."""
    good: list[Decoded] = []
    misses: list[int] = []
    keep = good.append
    miss = misses.append
    parse = _parse_common
    refused = msgspec.DecodeError  # also msgspec.ValidationError, its subclass
    stream_ok = is_stream_id
    number_ok = in_bounds
    names: dict[str, bytes] = {}  # stream ids seen in this batch that pass the rule
    plain = plain_values
    new = tuple.__new__  # a Decoded without NamedTuple's Python-level __new__
    ts_bound = MAX_ABS_TS
    for i, record in enumerate(records):
        value = record.value
        # 8 quotes = 4 strings: the three keys and the stream id, so no key is duplicated
        # and there is no other field (no backslash: no quote inside a string)
        if (
            type(value) is not bytes
            or len(value) > limit
            or b"\\" in value
            or value.count(b'"') != 8
        ):
            miss(i)
            continue
        try:
            obj = parse(value)
        except refused:
            miss(i)
            continue
        stream, ts = obj.stream, obj.ts
        name = names.get(stream)  # the stream id's UTF-8, once it passed the rule
        if name is None and stream_ok(stream):
            name = names[stream] = stream.encode("utf-8")
        key = record.key
        if name is not None and number_ok(ts, ts_bound) and (key is None or key == name):
            values = plain(obj.value)
            if values is not None and len(values) == width:
                keep(new(Decoded, (record, stream, ts, values)))
                continue
        miss(i)
    return good, misses


def _decode_common(record: RawRecord, width: int, limit: int) -> Reading | None:
    """``_fast_pass`` of one record: its Reading, or None when the complete rules decide."""
    good, _ = _fast_pass((record,), width, limit)
    return good[0].reading if good else None


def decode_record(record: RawRecord, width: int, max_bytes: int = MAX_MESSAGE_BYTES) -> Reading:
    """One record to a Reading with ``values`` of shape ``(width,)``; raises WireError."""
    fast = _decode_common(record, width, min(max_bytes, _FAST_MAX_BYTES))
    return fast if fast is not None else _decode_full(record, width, max_bytes)


def _decode_full(record: RawRecord, width: int, max_bytes: int) -> Reading:
    """``decode_record`` by the complete rules, with the exact reason on failure."""
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
    values = parse_values(value_raw)
    if len(values) != width:
        raise WireError("wrong_width", f"value has {len(values)} numbers, model takes {width}")
    reading: Reading = build_reading(stream, ts, values)
    return reading


def decode_batch(
    records: Sequence[RawRecord], width: int, max_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[list[Decoded], list[DeadLetter]]:
    """Split ``records`` into valid readings (in input order) and dead letters.

    ``width`` is the model's ``n_inputs``. Never raises because of record contents."""
    try:
        good, misses = _fast_pass(records, width, min(max_bytes, _FAST_MAX_BYTES))
    except Exception:  # a bug in the fast path: log it, let the complete rules decide
        logger.exception("fast decode failed; deciding the batch by the complete rules")
        good, misses = [], list(range(len(records)))
    if not misses:
        return good, []
    bad: list[DeadLetter] = []
    taken: dict[int, Decoded] = {}
    for i in misses:
        rec = records[i]
        try:
            rd = _decode_full(rec, width, max_bytes)
            taken[i] = Decoded(rec, rd.stream, rd.ts, rd.values)
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
    if taken:  # readings of both paths, back in input order
        missed = set(misses)
        fast = (i for i in range(len(records)) if i not in missed)
        by_index = dict(zip(fast, good, strict=True))
        by_index.update(taken)
        good = [by_index[i] for i in sorted(by_index)]
    return good, bad
