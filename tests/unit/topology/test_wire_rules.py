"""One set of wire rules: the fast decoder, the complete decoder and the pydantic model
decide every edge case alike, with the same dead-letter reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from tcnad.topology.wire.decode import (
    _FAST_MAX_BYTES,
    RawRecord,
    _decode_common,
    _decode_full,
    decode_record,
)
from tcnad.topology.wire.schemas import MAX_MESSAGE_BYTES, MAX_WIDTH, Reading, WireError

OK = "ok"
S = "sensor-1"


def _body(stream: Any = S, ts: Any = 1.7e9, value: Any = 1.5) -> bytes:
    return json.dumps({"stream": stream, "ts": ts, "value": value}).encode()


def _raw(stream: str = S, ts: str = "1700000000.0", value: str = "1.5") -> bytes:
    return f'{{"stream":"{stream}","ts":{ts},"value":{value}}}'.encode()


# (case id, body, key, width, outcome: "ok" or the dead-letter reason)
CASES: list[tuple[str, bytes | None, bytes | None, int, str]] = [
    ("plain", _raw(), S.encode(), 1, OK),
    ("no key", _raw(), None, 1, OK),
    ("int ts and value", _raw(ts="1700000000", value="3"), None, 1, OK),
    ("one-item array, width 1", _raw(value="[1.5]"), None, 1, OK),
    ("vector", _raw(value="[1,2.5,-3e2]"), None, 3, OK),
    ("negative zero", _raw(value="-0.0"), None, 1, OK),
    ("tiny", _raw(value="1e-300"), None, 1, OK),
    ("value at +bound", _raw(value="1e15"), None, 1, OK),
    ("value at -bound", _raw(value="-1000000000000000"), None, 1, OK),
    ("value past bound", _raw(value="1000000000000001"), None, 1, "out_of_range"),
    ("value 1e16 in array", _raw(value="[1,1e16]"), None, 2, "out_of_range"),
    ("value overflows float", _raw(value="1e400"), None, 1, "non_finite"),
    ("huge int value", _raw(value="1" + "0" * 400), None, 1, "non_finite"),
    ("NaN literal", _raw(value="NaN"), None, 1, "non_finite"),
    ("Infinity in array", _raw(value="[1,-Infinity]"), None, 2, "non_finite"),
    ("value 'nan' string", _raw(value='"nan"'), None, 1, "non_finite"),
    ("value numeric string", _raw(value='"1.5"'), None, 1, "invalid"),
    ("value true", _raw(value="true"), None, 1, "invalid"),
    ("value null", _raw(value="null"), None, 1, "invalid"),
    ("value empty array", _raw(value="[]"), None, 1, "invalid"),
    ("value nested array", _raw(value="[[1]]"), None, 1, "invalid"),
    ("value too wide", _raw(value=json.dumps([1] * (MAX_WIDTH + 1))), None, 1, "invalid"),
    ("width mismatch, scalar", _raw(), None, 2, "wrong_width"),
    ("width mismatch, array", _raw(value="[1,2]"), None, 3, "wrong_width"),
    ("ts at bound", _raw(ts="1e11"), None, 1, OK),
    ("ts at -bound", _raw(ts="-100000000000"), None, 1, OK),
    ("ts past bound", _raw(ts="100000000001"), None, 1, "out_of_range"),
    ("ts in ms", _raw(ts="1700000000000"), None, 1, "out_of_range"),
    ("ts NaN", _raw(ts="NaN"), None, 1, "non_finite"),
    ("ts overflow", _raw(ts="1e999"), None, 1, "non_finite"),
    ("ts ISO", _body(ts="2024-01-01T00:00:00Z"), None, 1, OK),
    ("ts ISO date", _body(ts="2024-01-01"), None, 1, OK),
    ("ts ISO past bound", _body(ts="9999-12-31T23:59:59Z"), None, 1, "out_of_range"),
    ("ts numeric string", _body(ts="1700000000"), None, 1, "invalid"),
    ("ts 'Infinity' string", _body(ts="Infinity"), None, 1, "non_finite"),
    ("ts bool", _raw(ts="false"), None, 1, "invalid"),
    ("ts null", _raw(ts="null"), None, 1, "invalid"),
    ("stream max length", _body(stream="s" * 200), None, 1, OK),
    ("stream too long", _body(stream="s" * 201), None, 1, "invalid"),
    ("stream empty", _body(stream=""), None, 1, "invalid"),
    ("stream unicode", _body(stream="pump/3:nörth é"), None, 1, OK),
    ("stream raw unicode", _raw(stream="pump/3:nörth é"), "pump/3:nörth é".encode(), 1, OK),
    ("stream tab", _body(stream="a\tb"), None, 1, "invalid"),
    ("stream zero-width space", _body(stream="a\u200bb"), None, 1, "invalid"),
    ("stream no-break space", _body(stream="a\u00a0b"), None, 1, "invalid"),
    ("stream lone surrogate", _body(stream="a\ud800"), None, 1, "invalid"),
    ("stream number", _body(stream=5), None, 1, "invalid"),
    ("stream with escaped quote", _body(stream='a"b'), b'a"b', 1, OK),
    ("key mismatch", _raw(), b"other", 1, "key_mismatch"),
    ("empty key", _raw(), b"", 1, "key_mismatch"),
    ("key mismatch beats bad ts", _raw(ts="NaN"), b"other", 1, "key_mismatch"),
    ("bad stream beats key", _body(stream=""), b"x", 1, "invalid"),
    ("missing value", b'{"stream":"s","ts":1.0,"values":1.5}', None, 1, "invalid"),
    ("extra field", b'{"stream":"s","ts":1.0,"value":1.5,"unit":"C"}', None, 1, OK),
    ("duplicate key", b'{"stream":"s","ts":1.0,"value":1.5,"ts":2.0}', None, 1, "invalid"),
    ("duplicate stream", b'{"stream":"s","ts":1.0,"stream":"s","value":2}', None, 1, "invalid"),
    ("not an object", b"[1,2,3]", None, 1, "invalid"),
    ("not JSON", b'{"stream":"s",', None, 1, "undecodable"),
    ("tombstone", None, None, 1, "undecodable"),
]


def _outcome(decode: Any) -> tuple[Any, ...] | str:
    try:
        r = decode()
    except WireError as exc:
        return exc.reason
    return (OK, r.stream, r.ts, r.values)


def _model_outcome(body: bytes) -> tuple[Any, ...] | str:
    try:
        r = Reading.model_validate(json.loads(body))
    except ValidationError as exc:
        cause = exc.errors()[0].get("ctx", {}).get("error")
        return cause.reason if isinstance(cause, WireError) else "invalid"
    return (OK, r.stream, r.ts, r.values)


@pytest.mark.parametrize(("body", "key", "width", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_fast_path_full_rules_and_model_agree(
    body: bytes | None, key: bytes | None, width: int, expected: str
) -> None:
    record = RawRecord("readings", 0, 7, key, body, None)
    full = _outcome(lambda: _decode_full(record, width, MAX_MESSAGE_BYTES))
    assert (full if isinstance(full, str) else full[0]) == expected
    assert _outcome(lambda: decode_record(record, width)) == full
    fast = _decode_common(record, width, _FAST_MAX_BYTES)
    if fast is not None:
        assert (OK, fast.stream, fast.ts, fast.values) == full
        assert (
            fast.model_dump()
            == Reading(stream=fast.stream, ts=fast.ts, values=fast.values).model_dump()
        )
    if body is None or expected in ("undecodable", "key_mismatch"):
        return
    if b'"ts":1.0,"stream"' in body or body.count(b'"ts"') > 1:
        return  # duplicate keys: plain json keeps the last, the decoder refuses
    model = _model_outcome(body)
    if expected == "wrong_width":  # the model takes any width
        assert not isinstance(model, str)
    elif expected == "invalid" and b'"values"' in body:  # the model also takes "values"
        assert model != OK
    else:
        assert model == full


def test_the_common_shapes_take_the_fast_path() -> None:
    for name, body, key, width, expected in CASES:
        if expected == OK and name in ("plain", "no key", "int ts and value", "vector", "tiny"):
            assert _decode_common(RawRecord("r", 0, 0, key, body, None), width, _FAST_MAX_BYTES)
