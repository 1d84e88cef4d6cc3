"""Alerts and score records carry which parts of the score fired and the direction; older
messages without them still parse."""

from __future__ import annotations

import numpy as np

from tcnad.detector.result import ABOVE, FLAT, StepResult
from tcnad.topology.wire.schemas import Alert, ScoreRecord
from tcnad.topology.worker.rounds import _why


def _result() -> StepResult:
    z = np.zeros(2)
    return StepResult(
        *[z] * 9,
        parts={
            "band": np.array([0.97, 0.0]),
            "novelty": np.array([0.96, 0.0]),
            "repeats": np.array([0.0, 0.95]),
        },
        direction=np.array([ABOVE, FLAT], dtype=np.int8),
    )


def _alert(**extra: object) -> Alert:
    return Alert(
        id="a",
        stream="s",
        ts=1.0,
        value=[1.0],
        lower=[0.0],
        median=[0.5],
        upper=[0.9],
        severity=0.1,
        tail_prob=0.01,
        score=0.97,
        model_id="m",
        partition=0,
        offset=3,
        **extra,
    )


def test_an_alert_says_why_and_which_way() -> None:
    res = _result()
    first, second = _why(res, 0), _why(res, 1)
    assert first == {"reason": {"band": 0.97, "novelty": 0.96}, "direction": "above"}
    assert second == {"reason": {"repeats": 0.95}, "direction": "flat"}
    alert = _alert(**first)
    back = Alert.model_validate_json(alert.model_dump_json())
    assert back.reason == {"band": 0.97, "novelty": 0.96} and back.direction == "above"
    assert list(back.reason) == ["band", "novelty"]  # strongest first


def test_messages_without_the_new_fields_still_parse() -> None:
    old = _alert().model_dump()
    del old["reason"], old["direction"]
    back = Alert.model_validate(old)
    assert back.reason == {} and back.direction is None
    rec = ScoreRecord(
        stream="s",
        ts=1.0,
        value=[1.0],
        lower=[0.0],
        median=[0.5],
        upper=[0.9],
        score=0.1,
        alert=False,
        partition=0,
        offset=1,
    )
    assert rec.reason == {} and rec.direction is None


def test_a_result_that_does_not_say_why_adds_nothing() -> None:
    assert _why(object(), 0) == {}
