"""decode_batch: every kind of bad input becomes a dead letter with its bytes; good input
becomes readings identical to what the pydantic model would build."""

from __future__ import annotations

import base64
import json
import math

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tcnad.topology.wire.decode import (
    _FAST_MAX_BYTES,
    REASONS,
    RawRecord,
    _decode_common,
    _decode_full,
    _nesting_depth,
    dead_letter,
    decode_batch,
    decode_record,
    raw_records,
)
from tcnad.topology.wire.schemas import (
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    MAX_STREAM_LEN,
    Reading,
    WireError,
)
from tests.fuzz import (
    MALFORMED_KINDS,
    good_messages,
    interleave,
    malformed_cases,
    malformed_messages,
)


def rec(value: bytes | None, key: bytes | None = None, offset: int = 0) -> RawRecord:
    return RawRecord("readings", 3, offset, key, value, 1_700_000_000_000)


def reason_of(value: bytes | None, key: bytes | None = None, width: int = 1, **kw: int) -> str:
    good, bad = decode_batch([rec(value, key)], width, **kw)
    assert not good, f"accepted: {good}"
    assert len(bad) == 1
    assert bad[0].reason in REASONS
    return bad[0].reason


def body(**fields: object) -> bytes:
    base: dict[str, object] = {"stream": "sensor-0001", "ts": 1700000000.5, "value": 1.5}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not _DROP}).encode()


_DROP = object()


def test_good_scalar_and_vector_and_iso() -> None:
    records = [
        rec(body(), b"sensor-0001"),
        rec(body(value=[1, 2.5]), None),
        rec(body(ts="2024-01-01T00:00:00Z", value=[3.0, -4]), b"sensor-0001"),
        rec(body(ts=1700000000, value=7)),
    ]
    good, bad = decode_batch(records[:1] + records[3:], 1)
    assert not bad and [g.reading.values for g in good] == [(1.5,), (7.0,)]
    assert good[0].record is records[0]
    assert isinstance(good[1].reading.ts, float) and good[1].reading.ts == 1700000000.0
    good2, bad2 = decode_batch(records[1:3], 2)
    assert not bad2
    assert good2[1].reading.ts == 1704067200.0
    assert good2[1].reading.values == (3.0, -4.0)


def test_width_one_accepts_a_one_item_array() -> None:
    good, bad = decode_batch([rec(body(value=[2.0]))], 1)
    assert not bad and good[0].reading.values == (2.0,)


def test_fast_reading_equals_validated_model() -> None:
    (d,), _ = decode_batch([rec(body(value=[1.0, 2.0]))], 2)
    ref = Reading(stream="sensor-0001", ts=1700000000.5, values=(1.0, 2.0))
    assert d.reading == ref
    assert d.reading.model_dump() == ref.model_dump()
    assert d.reading.model_fields_set == ref.model_fields_set
    assert Reading.model_validate_json(d.reading.to_wire()) == ref
    with pytest.raises(ValidationError):
        d.reading.stream = "other"
    assert (d.stream, d.ts, d.values) == (ref.stream, ref.ts, ref.values)
    assert type(d.ts) is float and type(d.values) is tuple


def test_slow_path_readings_hold_the_same_fields() -> None:
    """A reading decided by the complete rules (an ISO time, escapes) is held as the fast
    path's are: flat fields, equal to the validated model's."""
    (d,), _ = decode_batch([rec(b'{"stream":"a\\u0062","ts":"2024-01-01T00:00:00Z","value":3}')], 1)
    ref = Reading(stream="ab", ts="2024-01-01T00:00:00Z", value=3)
    assert (
        (d.stream, d.ts, d.values)
        == (ref.stream, ref.ts, ref.values)
        == ("ab", 1704067200.0, (3.0,))
    )
    assert d.reading == ref


def test_raw_records_keep_every_field_in_fetch_order() -> None:
    fetched = [
        [
            ConsumerRecord(
                "readings", p, o, 1_700_000_000_000 + o, 0, b"k%d" % o, b"v", None, 2, 1, ()
            )
            for o in range(3)
        ]
        for p in (4, 1)
    ]
    raws = raw_records(fetched)
    assert all(type(r) is RawRecord for r in raws)
    assert raws == [
        RawRecord("readings", p, o, b"k%d" % o, b"v", 1_700_000_000_000 + o)
        for p in (4, 1)
        for o in range(3)
    ]
    assert raws[0].value is fetched[0][0].value  # shared, not copied
    assert raw_records([]) == []


def test_decoded_example_runs() -> None:
    import doctest

    from tcnad.topology.wire import construct, decode

    for module in (decode, construct):
        failed, tried = doctest.testmod(module)[:2]
        assert tried > 0 and failed == 0, module.__name__


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "undecodable"),
        (b"\xff\xfe{}", "undecodable"),
        (b'{"stream": "a", "ts": 1, "value": 1', "undecodable"),
        (b"", "undecodable"),
        (b"\xef\xbb\xbf" + body(), "undecodable"),
        (b'{"stream":"a","ts":1,"value":' + b"9" * 5000 + b"}", "undecodable"),
        (b"[1, 2]", "invalid"),
        (b"null", "invalid"),
        (b'"text"', "invalid"),
        (body(stream=_DROP), "invalid"),
        (body(ts=_DROP), "invalid"),
        (body(value=_DROP), "invalid"),
        (body(stream=5), "invalid"),
        (body(stream=""), "invalid"),
        (body(stream="x" * (MAX_STREAM_LEN + 1)), "invalid"),
        (body(stream="a\x00b"), "invalid"),
        (body(stream="a\nb"), "invalid"),
        (body(stream="a\u200bb"), "invalid"),
        (body(stream="a\ud800"), "invalid"),
        (body(ts=[1]), "invalid"),
        (body(ts=True), "invalid"),
        (body(ts="yesterday"), "invalid"),
        (body(ts="1700000000"), "invalid"),
        (body(ts="2024-02-30T00:00:00Z"), "invalid"),
        (body(value=True), "invalid"),
        (body(value=[True]), "invalid"),
        (body(value="1.5"), "invalid"),
        (body(value=None), "invalid"),
        (body(value=[None]), "invalid"),
        (body(value=[]), "invalid"),
        (body(value={"v": 1}), "invalid"),
        (body(value=[[1.0]]), "invalid"),
        (body(value=[1.0] * 1000), "invalid"),
        (body(value=float("nan")), "non_finite"),
        (body(value=float("inf")), "non_finite"),
        (body(ts=float("-inf")), "non_finite"),
        (body(value="NaN"), "non_finite"),
        (body(value=["inf"]), "non_finite"),
        (body(ts="NaN"), "non_finite"),
        (body(ts=" -Infinity "), "non_finite"),
        (b'{"stream":"a","ts":1,"value":1e400}', "non_finite"),
        (b'{"stream":"a","ts":1,"value":' + b"9" * 400 + b"}", "non_finite"),
        (body(value=1e16), "out_of_range"),
        (body(value=[-1e300]), "out_of_range"),
        (body(ts=1.7e12), "out_of_range"),
        (body(value=[1.0, 2.0]), "wrong_width"),
        (body(note="x" * MAX_MESSAGE_BYTES), "too_large"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "too_deep"),
        (b"[" * 20000 + b"]" * 20000, "too_deep"),
        (body()[:-1] + b',"x":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}", "too_deep"),
        (body()[:-1] + b',"stream":"b"}', "invalid"),
        (body()[:-1] + b',"value":2}', "invalid"),
        (body()[:-1] + b',"x":1,"x":2}', "invalid"),
        (body()[:-1] + b',"str\\u0065am":"b"}', "invalid"),
    ],
)
def test_each_bad_input_gets_its_reason(value: bytes | None, reason: str) -> None:
    assert reason_of(value) == reason


def test_key_mismatch_only_when_key_present_and_different() -> None:
    assert reason_of(body(), b"sensor-0002") == "key_mismatch"
    assert reason_of(body(), b"") == "key_mismatch"
    assert reason_of(body(), b"\xff") == "key_mismatch"
    assert decode_batch([rec(body(), None)], 1)[0]
    assert decode_batch([rec(body(stream="séns"), "séns".encode())], 1)[0]


def test_max_bytes_is_configurable() -> None:
    small = body()
    assert reason_of(small, max_bytes=len(small) - 1) == "too_large"
    assert decode_batch([rec(small)], 1, max_bytes=len(small))[0]


def test_extra_fields_are_ignored_and_shallow_nesting_is_fine() -> None:
    good, bad = decode_batch([rec(body(unit="C", tags={"site": [1, [2, {"a": []}]]}))], 1)
    assert not bad and good[0].reading.values == (1.5,)
    many_arrays = body(extra=[[i] for i in range(100)])  # many brackets, depth 3
    assert decode_batch([rec(many_arrays)], 1)[0]


def test_dead_letter_keeps_the_original_bytes_and_position() -> None:
    key, value = b"sensor-9", b"\x00\xffnot json"
    (dl,) = decode_batch([RawRecord("readings", 5, 42, key, value, None)], 1)[1]
    assert (dl.topic, dl.partition, dl.offset) == ("readings", 5, 42)
    assert dl.original_key() == key and dl.original_value() == value
    assert base64.b64decode(dl.value_b64 or "") == value
    tomb = dead_letter(rec(None, None), "undecodable", "x" * 1000)
    assert tomb.key_b64 is None and tomb.value_b64 is None and len(tomb.detail) <= 300


def test_order_and_partition_are_preserved() -> None:
    values = [body(value=float(i)) if i % 3 else b"bad" for i in range(30)]
    records = [rec(v, offset=i) for i, v in enumerate(values)]
    good, bad = decode_batch(records, 1)
    assert [g.record.offset for g in good] == [i for i in range(30) if i % 3]
    assert [b.offset for b in bad] == list(range(0, 30, 3))


def test_decode_record_raises_wire_error_with_reason() -> None:
    with pytest.raises(WireError) as err:
        decode_record(rec(body(value=[1, 2, 3])), 2)
    assert err.value.reason == "wrong_width" and "3" in err.value.detail


@pytest.mark.parametrize("width", [1, 3])
def test_every_fuzz_kind_is_refused_with_its_reason(width: int) -> None:
    cases = malformed_cases(len(MALFORMED_KINDS) * 12, seed=width, width=width)
    assert {c.kind for c in cases} == set(MALFORMED_KINDS)
    good, bad = decode_batch([rec(c.value, c.key, i) for i, c in enumerate(cases)], width)
    assert not good, [(cases[g.record.offset].kind, g.reading) for g in good]
    got = [(cases[b.offset].kind, b.reason) for b in bad]
    assert got == [(c.kind, c.reason) for c in cases]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.binary(max_size=40)), st.one_of(st.none(), st.binary())),
        max_size=20,
    ),
    st.integers(1, 4),
)
def test_arbitrary_bytes_never_raise_and_partition_exactly(
    pairs: list[tuple[bytes | None, bytes | None]], width: int
) -> None:
    records = [rec(v, k, i) for i, (k, v) in enumerate(pairs)]
    good, bad = decode_batch(records, width)
    assert len(good) + len(bad) == len(records)
    assert sorted([g.record.offset for g in good] + [b.offset for b in bad]) == list(
        range(len(records))
    )
    assert all(b.reason in REASONS for b in bad)


_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["NaN", "inf", "2024-01-01T00:00:00Z", "2024-01-01", "x"]),
)
_fields = st.one_of(_json_scalars, st.lists(_json_scalars, max_size=4))


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["stream", "ts", "value", "other"]), _fields, max_size=4),
    st.integers(1, 3),
)
def test_decoder_agrees_with_the_pydantic_model(obj: dict[str, object], width: int) -> None:
    value = json.dumps(obj).encode()
    good, bad = decode_batch([rec(value)], width)
    try:
        model: Reading | None = Reading.model_validate(obj)
    except ValidationError:
        model = None
    if good:
        assert model is not None and good[0].reading == model
        assert len(model.values) == width
        assert all(math.isfinite(v) for v in model.values) and math.isfinite(model.ts)
    elif model is not None:
        assert bad[0].reason in ("wrong_width", "invalid")
        if bad[0].reason == "invalid":  # the wire takes "value" only; the model also "values"
            assert "value" not in obj
        else:
            assert len(model.values) != width


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["stream", "ts", "value", "x"]), _fields, max_size=4),
    st.integers(1, 3),
    st.sampled_from([None, b"k", b"sensor-0001"]),
    st.booleans(),
)
def test_fast_path_never_accepts_what_the_full_rules_refuse(
    obj: dict[str, object], width: int, key: bytes | None, compact: bool
) -> None:
    if "stream" in obj and key == b"k":
        obj["stream"] = "k"
    sep = (",", ":") if compact else (", ", ": ")
    record = rec(json.dumps(obj, separators=sep).encode(), key)
    fast = _decode_common(record, width, _FAST_MAX_BYTES)
    try:
        full: Reading | None = _decode_full(record, width, MAX_MESSAGE_BYTES)
    except WireError:
        full = None
    if fast is not None:
        assert full is not None and fast == full
        assert fast.model_dump() == full.model_dump()


def test_fast_path_takes_the_common_shapes() -> None:
    for value in (body(), body(value=[1, 2.5]), body(ts=3, value=-0.0)):
        width = len(json.loads(value)["value"]) if b"[" in value else 1
        assert _decode_common(rec(value, b"sensor-0001"), width, _FAST_MAX_BYTES) is not None


def _depth(x: object) -> int:
    if isinstance(x, list):
        return 1 + max((_depth(v) for v in x), default=0)
    if isinstance(x, dict):
        return 1 + max((_depth(v) for v in x.values()), default=0)
    return 0


_json_trees = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(alphabet='[]{}"\\ab', max_size=6)),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), kids, max_size=3),
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(_json_trees)
def test_nesting_depth_ignores_brackets_inside_strings(tree: object) -> None:
    assert _nesting_depth(json.dumps(tree).encode()) == _depth(tree)


def test_fuzz_mix_keeps_good_readings_valid_and_ordered() -> None:
    good = good_messages(5, 40, seed=1, width=2)
    bad = malformed_messages(300, seed=2, width=2)
    mixed = interleave(good, bad, seed=3)
    assert mixed == interleave(good, bad, seed=3)
    assert [(m.key, m.value) for m in mixed if m.good] == good
    assert [(m.key, m.value) for m in mixed if not m.good] == bad
    records = [rec(m.value, m.key, i) for i, m in enumerate(mixed)]
    ok, dead = decode_batch(records, 2)
    assert [d.record.offset for d in ok] == [i for i, m in enumerate(mixed) if m.good]
    assert len(dead) == 300
    last: dict[str, float] = {}
    for d in ok:
        assert d.reading.ts > last.get(d.reading.stream, -math.inf)
        last[d.reading.stream] = d.reading.ts


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'{"a":"[[[[{{","b":[1]}', 2),
        (b'{"a":"]]]]","b":[[[1]]]}', 4),
        (b'{"a":"\\"[[[","b":[]}', 2),
        (b'"[[["', 0),
        (b"[[[]],[[[]]]]", 4),
    ],
)
def test_nesting_depth_cases(text: bytes, depth: int) -> None:
    assert _nesting_depth(text) == depth


def test_a_stream_seen_earlier_in_the_batch_is_still_held_to_the_key_rule() -> None:
    """The fast path remembers a batch's valid stream ids; a later record of the same
    stream with another key is still a key mismatch, and an invalid id stays invalid."""
    ok, wrong, unkeyed = body(), body(), body()
    bad_id = json.dumps({"stream": "a\tb", "ts": 1.0, "value": 1.0}).encode()
    records = [
        rec(ok, b"sensor-0001", 0),
        rec(wrong, b"sensor-9999", 1),
        rec(unkeyed, None, 2),
        rec(bad_id, None, 3),
        rec(bad_id, None, 4),
    ]
    good, bad = decode_batch(records, 1)
    assert [g.record.offset for g in good] == [0, 2]
    assert [(d.offset, d.reason) for d in bad] == [
        (1, "key_mismatch"),
        (3, "invalid"),
        (4, "invalid"),
    ]
