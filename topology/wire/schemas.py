"""Wire schemas: what producers publish, what the worker emits, what bad input becomes.

A reading on the wire is one UTF-8 JSON object (see docs/wire.md)::

    {"stream": "sensor-0007", "ts": 1700000000.5, "value": 21.4}
    {"stream": "tick-AAPL", "ts": "2024-01-01T00:00:00Z", "value": [189.2, 1200.0]}

The field rules are written once, here. What a field must be to pass as it stands is said
by three predicates: ``is_stream_id``, ``in_bounds`` (a plain JSON number within a bound)
and ``plain_values``. The field functions ``check_stream``, ``parse_ts`` and
``parse_values`` accept exactly what those predicates accept (plus ISO 8601 timestamps and
number-like Python objects) and otherwise say which rule failed, as a ``WireError`` with
the dead-letter reason. The pydantic models validate with the field functions; the fast
batch decoder in ``tcnad.topology.wire.decode`` takes a reading when the predicates hold
and hands anything else to the field functions, so both accept and reject exactly the
same inputs, for the same reasons.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from tcnad.detector.errors import DetectorError

__all__ = [
    "MAX_ABS_TS",
    "MAX_ABS_VALUE",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_STREAM_LEN",
    "MAX_WIDTH",
    "Alert",
    "DeadLetter",
    "Reading",
    "Resolved",
    "ScoreRecord",
    "WireError",
    "alert_id",
    "check_stream",
    "encode_reading",
    "in_bounds",
    "is_stream_id",
    "number_text",
    "parse_alert_record",
    "parse_ts",
    "parse_values",
    "plain_values",
    "values_text",
]

MAX_MESSAGE_BYTES = 64 * 1024  # default bound on one message value, in bytes
MAX_STREAM_LEN = 200  # characters in a stream id
MAX_WIDTH = 256  # values in one reading (the model's n_inputs must match exactly)
MAX_ABS_VALUE = 1e15  # larger magnitudes would swamp a stream's running statistics
MAX_DEPTH = 16  # nesting of arrays/objects in one message (a reading needs 2)
MAX_ABS_TS = 1e11  # epoch seconds (year ~5138); milliseconds are ~1e12 and are refused

_NON_FINITE_WORDS = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)
_MAX_TS_STRING = 64


class WireError(DetectorError, ValueError):
    """A message breaks the wire format. ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _short(x: Any, limit: int = 60) -> str:
    """repr of an offending input, cut to ``limit`` characters."""
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(x: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, (int, float)):
        return "number"
    return names.get(type(x), type(x).__name__)


def is_stream_id(stream: Any) -> bool:
    """The stream id rule: a string of 1..MAX_STREAM_LEN printable characters (no control,
    format or separator characters other than the ASCII space; no lone surrogates)."""
    return type(stream) is str and 0 < len(stream) <= MAX_STREAM_LEN and stream.isprintable()


def in_bounds(x: Any, bound: float) -> bool:
    """The number rule: ``x`` is a JSON number (an exact ``float`` or ``int``; ``bool`` is
    not a number) within ``[-bound, bound]``. NaN and infinities fail the range test, and
    ``float(x)`` of such an ``x`` stays within the bound (``bound`` is a float64)."""
    return (type(x) is float or type(x) is int) and -bound <= x <= bound


def plain_values(value: Any) -> tuple[float, ...] | None:
    """``value`` as floats when it passes the value rule as it stands: one number, or a
    list (or tuple) of 1..MAX_WIDTH numbers, each ``in_bounds(x, MAX_ABS_VALUE)``. None
    for anything else (``parse_values`` then takes it or says why not)."""
    t = type(value)
    if t is list or t is tuple:
        if not 0 < len(value) <= MAX_WIDTH:
            return None
        for x in value:
            if not in_bounds(x, MAX_ABS_VALUE):
                return None
        return tuple(map(float, value))
    return (float(value),) if in_bounds(value, MAX_ABS_VALUE) else None


def check_stream(stream: Any) -> str:
    """A stream id (``is_stream_id``), or a WireError that says which part of the rule
    failed."""
    if is_stream_id(stream):
        return str(stream)  # the same object: is_stream_id wants an exact str
    if type(stream) is not str:
        raise WireError("invalid", f"stream must be a string, got {_kind(stream)}")
    if not stream:
        raise WireError("invalid", "stream is empty")
    if len(stream) > MAX_STREAM_LEN:
        raise WireError("invalid", f"stream is {len(stream)} characters, max {MAX_STREAM_LEN}")
    bad = next(c for c in stream if not c.isprintable())
    raise WireError("invalid", f"stream contains a non-printable character U+{ord(bad):04X}")


def _finite_number(x: Any, name: str, bound: float) -> float:
    """A JSON number as a finite float within ``[-bound, bound]`` (``in_bounds``), also
    from number-like objects (a float subclass, ...); bool is not a number."""
    if in_bounds(x, bound):
        return float(x)
    t = type(x)
    f: float
    if t is float:
        f = float(x)
    elif t is int:
        try:
            f = float(x)
        except OverflowError:
            raise WireError("non_finite", f"{name} overflows a float64") from None
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        f = float(x)
    elif t is str and x.strip().lower() in _NON_FINITE_WORDS:
        raise WireError("non_finite", f"{name} is {_short(x)}")
    else:
        raise WireError("invalid", f"{name} must be a number, got {_kind(x)} {_short(x, 30)}")
    if in_bounds(f, bound):
        return f
    if not math.isfinite(f):
        raise WireError("non_finite", f"{name} is {f}")
    raise WireError("out_of_range", f"{name} {f!r} is outside [-{bound:g}, {bound:g}]")


def _parse_iso(text: str) -> float:
    """ISO 8601 text to epoch seconds; a time without offset is UTC."""
    if len(text) > _MAX_TS_STRING:
        raise WireError("invalid", f"ts string is {len(text)} characters, max {_MAX_TS_STRING}")
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise WireError(
            "invalid", f"ts {_short(text, 40)} is neither epoch seconds nor ISO 8601"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_ts(ts: Any) -> float:
    """A timestamp: epoch seconds (JSON number) or an ISO 8601 string; finite, and within
    +-MAX_ABS_TS seconds (so millisecond epochs are refused rather than misread)."""
    if in_bounds(ts, MAX_ABS_TS):
        return float(ts)
    if type(ts) is str and ts.strip().lower() not in _NON_FINITE_WORDS:
        ts = _parse_iso(ts)
    try:
        return _finite_number(ts, "ts", MAX_ABS_TS)
    except WireError as exc:
        if exc.reason == "out_of_range":
            raise WireError("out_of_range", exc.detail + " (send epoch seconds, not ms)") from None
        raise


def parse_values(value: Any) -> tuple[float, ...]:
    """``value``: one number or an array of 1..MAX_WIDTH numbers, each finite and within
    +-MAX_ABS_VALUE (``plain_values``). Returns the values as a tuple of floats, shape
    ``(width,)``."""
    plain = plain_values(value)
    if plain is not None:
        return plain
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= MAX_WIDTH:
            raise WireError(
                "invalid", f"value array has {len(value)} items, expected 1..{MAX_WIDTH}"
            )
        return tuple(_finite_number(v, f"value[{i}]", MAX_ABS_VALUE) for i, v in enumerate(value))
    return (_finite_number(value, "value", MAX_ABS_VALUE),)


def alert_id(stream: str, partition: int, offset: int) -> str:
    """The deterministic id of the alert raised by the reading at ``partition``/``offset``."""
    return f"{stream}:{partition}:{offset}"


def encode_reading(
    stream: str, ts: float, values: float | tuple[float, ...] | list[float]
) -> bytes:
    """Serialise one reading to its wire bytes (compact JSON; a width-1 value as a number).

    Raises WireError if the reading would not pass the decoder."""
    check_stream(stream)
    ts_f = parse_ts(ts)
    vals = parse_values(values)
    value_json = repr(vals[0]) if len(vals) == 1 else "[" + ",".join(map(repr, vals)) + "]"
    return f'{{"stream":{json.dumps(stream)},"ts":{ts_f!r},"value":{value_json}}}'.encode()


class Reading(BaseModel):
    """One observation of one stream. ``values`` has shape ``(width,)``.

    Input accepts ``value`` (the wire name) or ``values``; ``ts`` as epoch seconds or ISO
    8601. Unknown fields are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    stream: str
    ts: float
    values: tuple[float, ...] = Field(validation_alias=AliasChoices("value", "values"))

    _check_stream = field_validator("stream", mode="before")(check_stream)
    _check_ts = field_validator("ts", mode="before")(parse_ts)
    _check_values = field_validator("values", mode="before")(parse_values)

    def to_wire(self) -> bytes:
        """The reading's wire bytes, as ``encode_reading`` writes them."""
        return encode_reading(self.stream, self.ts, self.values)


def _nan_for_null(x: Any) -> Any:
    """Non-finite floats are written as JSON null; read null back as NaN."""
    if x is None:
        return math.nan
    if isinstance(x, list):
        return [math.nan if v is None else v for v in x]
    return x


class _Output(BaseModel):
    """Records the worker writes: NaN/inf serialise as null and null reads back as NaN."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class Alert(_Output):
    """A reading outside its calibrated band. Vectors have shape ``(width,)``.

    severity: distance outside the band in band widths; tail_prob: model probability of an
    observation at least this extreme; score: anomaly score in [0, 1]. ``id`` is
    ``alert_id(stream, partition, offset)``, so redeliveries carry the same id. reason: the
    parts of the score that fired, with their scores, strongest first (``band``,
    ``novelty``, ``level``, ``repeats``, ``daily``); direction: the reading lay ``above`` or
    ``below`` its band's median, or was a stuck value (``flat``). Both are absent (``{}``,
    null) in alerts of older workers. kind: always ``alert`` (absent in alerts of older
    workers, read as ``alert``), telling an alert from a ``Resolved`` on the alerts topic."""

    kind: Literal["alert"] = "alert"
    id: str
    stream: str
    ts: float
    value: list[float]
    lower: list[float]
    median: list[float]
    upper: list[float]
    severity: float
    tail_prob: float
    score: float
    model_id: str
    partition: int
    offset: int
    reason: dict[str, float] = {}
    direction: Literal["above", "below", "flat"] | None = None

    _nulls = field_validator(
        "value", "lower", "median", "upper", "severity", "tail_prob", "score", mode="before"
    )(_nan_for_null)


class Resolved(_Output):
    """The end of an incident, on the alerts topic after its alert: the stream has been
    back inside its band for ``cooldown`` scored readings. ``id`` is the id of the alert
    that opened the incident; ``ts``, ``partition`` and ``offset`` are those of the reading
    that ended it; ``readings``: readings scored from the alert's reading to this one, both
    included; ``severity``: the alert's (so a resolution is routed as its alert was).
    Deterministic, like an alert's: a replay writes the same record."""

    kind: Literal["resolved"] = "resolved"
    id: str
    stream: str
    ts: float
    readings: int
    severity: float
    model_id: str
    partition: int
    offset: int

    _nulls = field_validator("severity", mode="before")(_nan_for_null)


def number_text(x: float) -> str:
    """A number of an alert as people read it: six significant digits, ``nan`` for NaN."""
    return "nan" if math.isnan(x) else f"{x:.6g}"


def values_text(xs: Sequence[float]) -> str:
    """An alert's values: one as a number, several as ``[a, b, ...]``."""
    return number_text(xs[0]) if len(xs) == 1 else "[" + ", ".join(map(number_text, xs)) + "]"


def parse_alert_record(data: bytes | str) -> Alert | Resolved:
    """A record of the alerts topic: a ``Resolved`` where ``kind`` is ``resolved``, else an
    ``Alert`` (records without ``kind`` are alerts). Raises pydantic's ``ValidationError``
    (``ValueError``) for anything else."""
    try:
        obj = json.loads(data)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and obj.get("kind") == "resolved":
        return Resolved.model_validate_json(data)
    return Alert.model_validate_json(data)


class ScoreRecord(_Output):
    """Every scored reading (optional ``scores`` topic). The band is NaN (null on the wire)
    before a stream's first forecast; reason and direction as in ``Alert``."""

    stream: str
    ts: float
    value: list[float]
    lower: list[float]
    median: list[float]
    upper: list[float]
    score: float
    alert: bool
    partition: int
    offset: int
    reason: dict[str, float] = {}
    direction: Literal["above", "below", "flat"] | None = None

    _nulls = field_validator("value", "lower", "median", "upper", "score", mode="before")(
        _nan_for_null
    )


class DeadLetter(BaseModel):
    """A message the worker refused: why, where it came from, and its exact bytes."""

    model_config = ConfigDict(frozen=True)

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str | None

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def original_key(self) -> bytes | None:
        return None if self.key_b64 is None else base64.b64decode(self.key_b64)

    def original_value(self) -> bytes | None:
        return None if self.value_b64 is None else base64.b64decode(self.value_b64)
