"""Wire models: field rules, encoding round trips, NaN as null in outputs."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from tcnad.topology.wire.schemas import (
    Alert,
    DeadLetter,
    Reading,
    ScoreRecord,
    WireError,
    alert_id,
    check_stream,
    encode_reading,
    parse_ts,
    parse_values,
)


def test_reading_accepts_wire_and_python_names() -> None:
    a = Reading.model_validate({"stream": "s", "ts": 1.0, "value": 2})
    b = Reading(stream="s", ts=1, values=(2.0,))
    assert a == b and a.values == (2.0,) and isinstance(a.ts, float)


def test_reading_is_frozen_and_ignores_unknown_fields() -> None:
    r = Reading.model_validate({"stream": "s", "ts": 1.0, "value": 2, "unit": "C"})
    assert not hasattr(r, "unit")
    with pytest.raises(ValidationError):
        r.ts = 2.0


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2024-01-01T00:00:00Z", 1704067200.0),
        ("2024-01-01T00:00:00", 1704067200.0),  # no offset: UTC
        ("2024-01-01T01:00:00+01:00", 1704067200.0),
        ("2024-01-01T00:00:00.250Z", 1704067200.25),
        ("2024-01-01", 1704067200.0),
    ],
)
def test_iso_timestamps(text: str, epoch: float) -> None:
    assert parse_ts(text) == epoch


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        (math.nan, "non_finite"),
        ("Infinity", "non_finite"),
        (True, "invalid"),
        (None, "invalid"),
        ("soon", "invalid"),
        (1.7e12, "out_of_range"),
        (10**400, "non_finite"),
    ],
)
def test_bad_timestamps(ts: object, reason: str) -> None:
    with pytest.raises(WireError) as err:
        parse_ts(ts)
    assert err.value.reason == reason


def test_ms_timestamp_error_tells_what_to_send() -> None:
    with pytest.raises(WireError, match="epoch seconds"):
        parse_ts(1_700_000_000_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, (1.0,)), (-2.5, (-2.5,)), ([1, 2.0], (1.0, 2.0)), ((3.0,), (3.0,))],
)
def test_values(value: object, expected: tuple[float, ...]) -> None:
    assert parse_values(value) == expected


@pytest.mark.parametrize(
    ("stream", "ok"),
    [("sensor-0007", True), ("tick-AAPL", True), ("a b/c:d{e}", True), ("é", True),
     ("", False), ("x" * 201, False), ("x\ty", False), ("\x85", False), ("a\ud800", False)],
)  # fmt: skip
def test_stream_ids(stream: str, ok: bool) -> None:
    if ok:
        assert check_stream(stream) == stream
    else:
        with pytest.raises(WireError):
            check_stream(stream)


def test_encode_reading_is_compact_json_and_round_trips() -> None:
    raw = encode_reading("tick-AAPL", 1700000000.5, [189.25, 1200.0])
    assert json.loads(raw) == {"stream": "tick-AAPL", "ts": 1700000000.5, "value": [189.25, 1200.0]}
    assert json.loads(encode_reading("s", 1, 0.1)) == {"stream": "s", "ts": 1.0, "value": 0.1}
    assert json.loads(encode_reading('q"uo\\te', 1, 2))["stream"] == 'q"uo\\te'
    r = Reading(stream="s", ts=5, values=(1e-300, -1e15))
    assert Reading.model_validate_json(r.to_wire()) == r
    with pytest.raises(WireError):
        encode_reading("s", 1.0, math.inf)


def _alert(**kw: object) -> Alert:
    base: dict[str, object] = dict(
        id=alert_id("s", 2, 17), stream="s", ts=1.0, value=[5.0], lower=[0.0], median=[1.0],
        upper=[2.0], severity=1.5, tail_prob=0.001, score=0.99, model_id="m1", partition=2,
        offset=17,
    )  # fmt: skip
    base.update(kw)
    return Alert.model_validate(base)


def test_alert_round_trip_and_deterministic_id() -> None:
    a = _alert()
    assert a.id == "s:2:17"
    assert Alert.model_validate_json(a.to_bytes()) == a


def test_non_finite_outputs_are_written_as_null_and_read_back_as_nan() -> None:
    a = _alert(severity=math.inf, lower=[math.nan])
    doc = json.loads(a.to_bytes())
    assert doc["severity"] is None and doc["lower"] == [None]
    back = Alert.model_validate_json(a.to_bytes())
    assert math.isnan(back.severity) and math.isnan(back.lower[0])
    s = ScoreRecord(
        stream="s", ts=1.0, value=[1.0], lower=[math.nan], median=[math.nan], upper=[math.nan],
        score=0.0, alert=False, partition=0, offset=0,
    )  # fmt: skip
    assert json.loads(s.to_bytes())["median"] == [None]
    assert math.isnan(ScoreRecord.model_validate_json(s.to_bytes()).upper[0])


def test_dead_letter_round_trip() -> None:
    d = DeadLetter(
        reason="invalid", detail="x", topic="readings", partition=1, offset=2,
        key_b64=None, value_b64="AP8=",
    )  # fmt: skip
    assert DeadLetter.model_validate_json(d.to_bytes()) == d
    assert d.original_value() == b"\x00\xff" and d.original_key() is None
