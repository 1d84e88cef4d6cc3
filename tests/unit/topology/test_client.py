"""The Python client without a broker: offline scoring by stream id and reading checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tcnad.detector.engine import Detector
from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.offline import score_series
from tcnad.detector.lab.series import Series
from tcnad.detector.scoring import AlertPolicy
from tcnad.topology.client import OfflineDetector
from tcnad.topology.client.kafka import _encoded
from tcnad.topology.wire.schemas import WireError

T0 = 1_700_000_000.0
N = 70
POLICY = AlertPolicy(warmup=40)  # alerts from the 41st reading: a short test


def wave(k: int, n: int = N) -> np.ndarray:
    values = 20.0 + 3 * k + np.sin(np.arange(n) / (4 + k))
    values[-5] += 40.0  # a spike after warm-up
    return values


@pytest.fixture(scope="module")
def engine_pair() -> tuple[Detector, Detector]:
    # float32 rings: these tests compare one reading per call with several, and float32
    # kernels may round differently at another batch size (AVX-512 against AVX2 paths),
    # which in float16 rings can flip a stored value's rounding and move later scores by
    # about 1e-4 (tests/unit/detector/test_offline.py checks that bound for float16).
    return (
        Detector.from_checkpoint(
            None, policy=POLICY, device="cpu", capacity=4, ring_dtype="float32"
        ),
        Detector.from_checkpoint(
            None, policy=POLICY, device="cpu", capacity=4, ring_dtype="float32"
        ),
    )


def test_score_one_by_stream_id_equals_offline_scoring_of_each_series(
    engine_pair: tuple[Detector, Detector],
) -> None:
    """Readings of two streams interleaved through score_one score as score_series
    scores each series on its own: the stream -> slot map keeps their states apart."""
    ref_engine, engine = engine_pair
    stamps = T0 + 60.0 * np.arange(N)
    series = [Series(f"s{k}", (stamps * 1e6).astype("datetime64[us]"), wave(k)) for k in range(2)]
    reference = score_series(ref_engine, series, capacity=4)
    detector = OfflineDetector(engine=engine)
    got: dict[str, list] = {s.name: [] for s in series}
    for t in range(N):
        for s in reversed(series):  # another order than the slots
            got[s.name].append(detector.score_one(s.name, float(stamps[t]), float(s.values[t])))
    assert detector.streams == ["s1", "s0"]
    for ref in reference:
        rows = got[ref.series.name]
        np.testing.assert_allclose([r.score for r in rows], ref.score, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose([r.upper[0] for r in rows], ref.upper, rtol=1e-6)
        assert [r.alert for r in rows] == ref.alert.tolist()
        assert [r.warm for r in rows] == ref.warm.tolist()
    assert any(r.alert for r in got["s0"][-6:])  # the spike alerts
    first = got["s0"][0]
    assert math.isnan(first.lower[0]) and first.score == 0.0 and not first.warm


def test_score_many_batches_and_gives_the_same_results(
    engine_pair: tuple[Detector, Detector],
) -> None:
    one, many = (OfflineDetector(engine=e) for e in engine_pair)
    readings = [(f"s{t % 3}", T0 + t, float(np.sin(t / 7))) for t in range(60)]
    readings += [("s0", T0 + 500, 2.0), ("s0", T0 + 501, 3.0)]  # a repeat: a new step
    expected = [one.score_one(*r) for r in readings]
    got = many.score_many(readings)
    assert [(r.stream, r.ts, r.alert, r.warm) for r in got] == [
        (r.stream, r.ts, r.alert, r.warm) for r in expected
    ]
    for name in ("score", "severity", "tail_prob"):
        np.testing.assert_allclose(
            [getattr(r, name) for r in got], [getattr(r, name) for r in expected], atol=1e-6
        )
    np.testing.assert_allclose([r.upper for r in got], [r.upper for r in expected], rtol=1e-6)


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (("", T0, 1.0), "invalid"),
        (("a\n", T0, 1.0), "invalid"),
        (("a", T0 * 1000, 1.0), "out_of_range"),
        (("a", T0, math.nan), "non_finite"),
        (("a", T0, [1.0, 2.0]), "wrong_width"),
        (("a", T0 - 1, 1.0), "not_after_last"),
        (("a", T0, 1.0), "not_after_last"),
    ],
)
def test_a_reading_the_worker_would_refuse_raises_with_its_reason(
    engine_pair: tuple[Detector, Detector], reading: tuple, reason: str
) -> None:
    detector = OfflineDetector(engine=engine_pair[0])
    detector.score_one("a", T0, 1.0)
    with pytest.raises(WireError) as info:
        detector.score_one(*reading)
    assert info.value.reason == reason
    # score_many checks every reading before it scores any
    with pytest.raises(WireError):
        detector.score_many([("b", T0, 1.0), reading])
    assert detector.streams == ["a"]


def test_iso_timestamps_are_accepted(engine_pair: tuple[Detector, Detector]) -> None:
    detector = OfflineDetector(engine=engine_pair[0])
    r = detector.score_one("a", "2023-11-14T22:13:20Z", 1.0)
    assert r.ts == 1_700_000_000.0


def test_a_full_pool_says_so_and_forget_frees_a_slot(
    engine_pair: tuple[Detector, Detector],
) -> None:
    detector = OfflineDetector(engine=engine_pair[0])
    for k in range(4):
        detector.score_one(f"s{k}", T0, 1.0)
    with pytest.raises(DetectorError, match="all 4 slots hold a stream"):
        detector.score_one("s4", T0, 1.0)
    detector.forget("s1")
    detector.score_one("s4", T0, 1.0)
    detector.forget("s4")
    again = detector.score_one("s1", T0, 1.0)  # starts afresh: no band, not after-last
    assert math.isnan(again.lower[0]) and "s1" in detector.streams


def test_readings_are_checked_before_any_is_encoded() -> None:
    messages = _encoded([("pump/3", T0, 1.5), ("tick", "2024-01-01T00:00:00Z", [1, 2])])
    assert messages[0] == (b"pump/3", b'{"stream":"pump/3","ts":1700000000.0,"value":1.5}')
    assert messages[1][0] == b"tick"
    with pytest.raises(WireError) as info:
        _encoded([("ok", T0, 1.0), ("bad", T0, "NaN")])
    assert info.value.reason == "non_finite"
