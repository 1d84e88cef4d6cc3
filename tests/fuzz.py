"""Seeded malformed readings, and a mixer that interleaves them with good ones.

``malformed_messages(n, seed)`` returns ``(key, value)`` pairs that the decoder must refuse,
cycling through every class of bad input (``MALFORMED_KINDS``); ``malformed_cases`` also
names each message's kind and the dead-letter reason it must get. ``good_messages`` builds
valid readings with strictly increasing timestamps per stream, and ``interleave`` merges
the two lists at random while keeping each list's own order, so per-stream timestamp order
of the good readings survives the mix.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tcnad.topology.wire.schemas import MAX_DEPTH, MAX_MESSAGE_BYTES, MAX_STREAM_LEN, encode_reading

__all__ = [
    "MALFORMED_KINDS",
    "FuzzMessage",
    "MalformedCase",
    "good_messages",
    "interleave",
    "malformed_cases",
    "malformed_messages",
]

Key = bytes | None
Value = bytes | None


@dataclass(frozen=True)
class MalformedCase:
    kind: str
    reason: str  # the dead-letter reason the decoder must give
    key: Key
    value: Value


@dataclass(frozen=True)
class FuzzMessage:
    key: Key
    value: Value
    good: bool


def _stream(rng: random.Random) -> str:
    return f"fuzz-{rng.randrange(1000):04d}"


def _obj(stream: object, ts: object, value: object, **extra: object) -> dict[str, object]:
    return {"stream": stream, "ts": ts, "value": value, **extra}


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


def _ts(rng: random.Random) -> float:
    return round(1.7e9 + rng.uniform(0, 1e6), 3)


def _num(rng: random.Random) -> float:
    return round(rng.gauss(0, 10), 4)


# Each maker: (rng, width) -> (key, value). Keys are the body's stream id unless the kind
# is about keys, so bad messages share partitions with good ones of the same stream.
Maker = Callable[[random.Random, int], tuple[Key, Value]]


def _good_body(rng: random.Random, width: int, stream: str) -> dict[str, object]:
    value: object = _num(rng) if width == 1 else [_num(rng) for _ in range(width)]
    return _obj(stream, _ts(rng), value)


def _tombstone(rng: random.Random, width: int) -> tuple[Key, Value]:
    return _stream(rng).encode(), None


def _not_utf8(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _dumps(_good_body(rng, width, s))
    cut = rng.randrange(1, len(body))
    return s.encode(), body[:cut] + bytes([rng.choice([0x80, 0xC0, 0xFF, 0xFE, 0xED])]) + body[cut:]


def _not_json(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _dumps(_good_body(rng, width, s))
    choices = [
        body[: rng.randrange(1, len(body) - 1)],  # truncated
        body + b"}",  # trailing garbage
        body.replace(b":", b"=", 1),
        b"",
        bytes(rng.choice(b'abc{}[]:," 019') for _ in range(rng.randrange(1, 40))) + b"{",
        b"\xef\xbb\xbf" + body,  # UTF-8 byte order mark
    ]
    return s.encode(), rng.choice(choices)


def _not_object(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    return s.encode(), rng.choice(
        [b"[]", b"null", b"42", b'"sensor"', b"true", _dumps([_good_body(rng, width, s)])]
    )


def _missing_field(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _good_body(rng, width, s)
    for name in rng.sample(["stream", "ts", "value"], rng.randrange(1, 4)):
        del body[name]
    if rng.random() < 0.3:
        body["values" if "value" not in body else "timestamp"] = 1.0  # near-miss names
    return s.encode(), _dumps(body)


def _wrong_type(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _good_body(rng, width, s)
    field, bad = rng.choice(
        [
            ("stream", 7),
            ("stream", None),
            ("stream", ["sensor-1"]),
            ("ts", [1.0]),
            ("ts", None),
            ("ts", {"s": 1}),
            ("value", "1.5"),
            ("value", None),
            ("value", {"v": 1.0}),
            ("value", [[1.0] * width]),
            ("value", [None] * width),
            ("value", ["1.0"] * width),
        ]
    )
    body[field] = bad
    key = s.encode() if field != "stream" else None
    return key, _dumps(body)


def _bool_number(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _good_body(rng, width, s)
    if rng.random() < 0.5:
        body["ts"] = rng.choice([True, False])
    else:
        flag = rng.choice([True, False])
        body["value"] = flag if width == 1 and rng.random() < 0.5 else [flag] * width
    return s.encode(), _dumps(body)


_NON_FINITE_TEXT = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"]
_NON_FINITE_STR = ["NaN", "nan", "inf", "-Infinity", "+inf", " NaN "]


def _non_finite(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    field = rng.choice(["ts", "value"])
    token = rng.choice(_NON_FINITE_TEXT)
    good = _good_body(rng, width, s)
    placeholder = "__BAD__"
    if field == "value" and width > 1:
        vals = list(good["value"])  # type: ignore[call-overload]
        vals[rng.randrange(width)] = placeholder
        good["value"] = vals
    else:
        good[field] = placeholder
    return s.encode(), _dumps(good).replace(b'"__BAD__"', token)


def _non_finite_string(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _good_body(rng, width, s)
    word = rng.choice(_NON_FINITE_STR)
    if rng.random() < 0.5:
        body["ts"] = word
    else:
        body["value"] = word if width == 1 else [word] * width
    return s.encode(), _dumps(body)


def _out_of_range(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _good_body(rng, width, s)
    if rng.random() < 0.5:
        body["ts"] = _ts(rng) * 1000.0  # milliseconds
    else:
        big = rng.choice([1e16, -3e20, 1.7e308])
        body["value"] = big if width == 1 else [big] * width
    return s.encode(), _dumps(body)


def _too_large(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    pad = "x" * (MAX_MESSAGE_BYTES + rng.randrange(1, 5000))
    return s.encode(), _dumps(_obj(s, _ts(rng), _num(rng), note=pad))


def _bad_stream(rng: random.Random, width: int) -> tuple[Key, Value]:
    body = _good_body(rng, width, "")
    body["stream"] = rng.choice(
        [
            "",
            "s" * (MAX_STREAM_LEN + rng.randrange(1, 300)),
            "sensor\x00-1",
            "sensor-1\n",
            "tab\there",
            "bell\x07",
            "del\x7f",
            "surrogate-\ud800",
            "zero\u200bwidth",
        ]
    )
    return None, json.dumps(body).encode()  # ensure_ascii: escapes survive as text


def _wrong_width(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _good_body(rng, width, s)
    n = rng.choice([w for w in (width + 1, width + 2, max(width - 1, 2), 40) if w != width])
    body["value"] = [_num(rng) for _ in range(n)]
    return s.encode(), _dumps(body)


def _empty_value(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    return s.encode(), _dumps(_obj(s, _ts(rng), []))


def _bad_ts(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    body = _good_body(rng, width, s)
    body["ts"] = rng.choice(["yesterday", "2024-13-45T00:00:00Z", "", "1700000000", "T" * 100])
    return s.encode(), _dumps(body)


def _key_mismatch(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    key = rng.choice([s.upper().encode(), (s + "x").encode(), b"", b"\xff\xfe", b"other"])
    return key, _dumps(_good_body(rng, width, s))


def _deep_nesting(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    if rng.random() < 0.5:
        depth = rng.randrange(3000, 30000)
        return s.encode(), b"[" * depth + b"]" * depth
    depth = rng.choice([MAX_DEPTH + 1, 100, 5000, 10000])
    head = _dumps(_good_body(rng, width, s))[:-1]
    return s.encode(), head + b',"x":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


def _duplicate_key(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    head = _dumps(_good_body(rng, width, s))[:-1]
    tail = rng.choice(
        [
            f',"stream":"{_stream(rng)}"',
            ',"ts":1.0',
            ',"value":2.5',
            ',"x":1,"x":2',
            ',"str\\u0065am":"z"',
        ]
    )
    return s.encode(), head + tail.encode() + b"}"


def _huge_int(rng: random.Random, width: int) -> tuple[Key, Value]:
    s = _stream(rng)
    digits = b"9" * rng.randrange(4400, 6000)  # past int max_str_digits
    return s.encode(), b'{"stream":"' + s.encode() + b'","ts":1700000000,"value":' + digits + b"}"


MALFORMED_KINDS: dict[str, tuple[str, Maker]] = {
    "tombstone": ("undecodable", _tombstone),
    "not_utf8": ("undecodable", _not_utf8),
    "not_json": ("undecodable", _not_json),
    "deep_nesting": ("too_deep", _deep_nesting),
    "not_object": ("invalid", _not_object),
    "missing_field": ("invalid", _missing_field),
    "wrong_type": ("invalid", _wrong_type),
    "bool_number": ("invalid", _bool_number),
    "bad_stream": ("invalid", _bad_stream),
    "bad_ts": ("invalid", _bad_ts),
    "empty_value": ("invalid", _empty_value),
    "duplicate_key": ("invalid", _duplicate_key),
    "non_finite": ("non_finite", _non_finite),
    "non_finite_string": ("non_finite", _non_finite_string),
    "out_of_range": ("out_of_range", _out_of_range),
    "too_large": ("too_large", _too_large),
    "wrong_width": ("wrong_width", _wrong_width),
    "key_mismatch": ("key_mismatch", _key_mismatch),
    "huge_int": ("undecodable", _huge_int),
}


def malformed_cases(n: int, seed: int, width: int = 1) -> list[MalformedCase]:
    """``n`` bad messages cycling through every kind in a seeded random order."""
    rng = random.Random(seed)
    kinds = list(MALFORMED_KINDS)
    out: list[MalformedCase] = []
    while len(out) < n:
        rng.shuffle(kinds)
        for kind in kinds[: n - len(out)]:
            reason, make = MALFORMED_KINDS[kind]
            key, value = make(rng, width)
            out.append(MalformedCase(kind, reason, key, value))
    return out


def malformed_messages(n: int, seed: int, width: int = 1) -> list[tuple[Key, Value]]:
    """``n`` ``(key, value)`` pairs the decoder must turn into dead letters."""
    return [(c.key, c.value) for c in malformed_cases(n, seed, width)]


def good_messages(
    n_streams: int,
    per_stream: int,
    seed: int,
    width: int = 1,
    start_ts: float = 1.7e9,
    prefix: str = "good",
) -> list[tuple[bytes, bytes]]:
    """Valid readings, key = stream id, timestamps strictly increasing per stream (1 s
    apart), streams interleaved round-robin. Values are a seeded random walk."""
    rng = random.Random(seed)
    levels = [rng.uniform(-50, 50) for _ in range(n_streams)]
    out: list[tuple[bytes, bytes]] = []
    for t in range(per_stream):
        for i in range(n_streams):
            stream = f"{prefix}-{i:04d}"
            levels[i] += rng.gauss(0, 1)
            value = levels[i] if width == 1 else [levels[i] + j for j in range(width)]
            out.append((stream.encode(), encode_reading(stream, start_ts + t, value)))
    return out


def interleave(
    good: Sequence[tuple[Key, Value]], bad: Sequence[tuple[Key, Value]], seed: int
) -> list[FuzzMessage]:
    """Merge ``good`` and ``bad`` at random, keeping the order within each list."""
    rng = random.Random(seed)
    out: list[FuzzMessage] = []
    i = j = 0
    while i < len(good) or j < len(bad):
        left_good, left_bad = len(good) - i, len(bad) - j
        if rng.random() * (left_good + left_bad) < left_good:
            out.append(FuzzMessage(good[i][0], good[i][1], True))
            i += 1
        else:
            out.append(FuzzMessage(bad[j][0], bad[j][1], False))
            j += 1
    return out
