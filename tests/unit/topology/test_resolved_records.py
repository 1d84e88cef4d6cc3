"""Resolved records: the worker writes one (before the alert, where one reading both ends an
incident and opens the next) with the id of the alert that opened the incident; the alerts
topic's readers, ``tcnad alerts``, ``tcnad notify`` and the dashboard, take them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tcnad.detector.result import ABOVE, StepResult
from tcnad.topology.cli.alerts import _show
from tcnad.topology.notify.config import parse_config
from tcnad.topology.notify.deliver import Sender
from tcnad.topology.notify.payloads import render
from tcnad.topology.ui.board import Board
from tcnad.topology.ui.feed import apply_alert
from tcnad.topology.wire.decode import Decoded, RawRecord
from tcnad.topology.wire.schemas import Alert, Resolved, parse_alert_record
from tcnad.topology.worker.hotcache import HotEntry
from tcnad.topology.worker.rounds import RoundResults, StepPlan, build_alerts

from .fakes import make_alert

NAN = float("nan")


def _result(alert: list[bool], resolved: list[bool], opening: list[list[float]]) -> StepResult:
    n = len(alert)
    z = np.zeros(n)
    return StepResult(
        lower=np.full((n, 1), 1.0),
        median=np.full((n, 1), 2.0),
        upper=np.full((n, 1), 3.0),
        score=np.full(n, 0.9),
        tail_prob=np.full(n, 1e-4),
        severity=np.full(n, 2.5),
        outside=np.array(alert),
        alert=np.array(alert),
        warm=np.ones(n, dtype=bool),
        parts={"band": np.where(alert, 0.9, 0.0)},
        direction=np.full(n, ABOVE, dtype=np.int8),
        resolved=np.array(resolved),
        opening=np.array(opening, dtype=np.float64).reshape(n, 4) + z[:, None],
    )


def _plan(streams: list[str], offsets: list[int]) -> StepPlan:
    plan = StepPlan()
    for slot, (s, off) in enumerate(zip(streams, offsets, strict=True)):
        rec = RawRecord("readings", 2, off, s.encode(), b"", None)
        plan.add(s, HotEntry(slot, 0, -1, -np.inf), [Decoded(rec, s, float(off), (5.0,))])
    return plan


def test_the_worker_writes_a_resolved_record_with_the_opening_alerts_id() -> None:
    plan = _plan(["a", "b", "c"], [900, 901, 902])
    res = _result(
        alert=[False, True, True],
        resolved=[True, True, False],
        opening=[[2, 870, 31, 1.5], [2, 880, 21, 4.0], [NAN] * 4],
    )
    out = build_alerts(plan, RoundResults(np.arange(3), [res]), "alerts", "m1")
    got = [json.loads(m.value) for m in out]
    assert [(r["kind"], r["id"]) for r in got] == [
        ("resolved", "a:2:870"),
        ("resolved", "b:2:880"),  # the old incident's end comes before the new alert
        ("alert", "b:2:901"),
        ("alert", "c:2:902"),
    ]
    first = got[0]
    assert first == {
        "kind": "resolved",
        "id": "a:2:870",
        "stream": "a",
        "ts": 900.0,
        "readings": 31,
        "severity": 1.5,
        "model_id": "m1",
        "partition": 2,
        "offset": 900,
    }
    assert [m.key for m in out] == [b"a", b"b", b"b", b"c"]
    assert isinstance(parse_alert_record(out[0].value), Resolved)
    assert isinstance(parse_alert_record(out[2].value), Alert)


def test_an_alert_without_kind_reads_as_an_alert_and_junk_is_refused() -> None:
    plan = _plan(["a"], [5])
    (msg,) = build_alerts(
        plan, RoundResults(np.arange(1), [_result([True], [False], [[NAN] * 4])]), "t", "m"
    )
    old = json.loads(msg.value)
    del old["kind"]
    alert = parse_alert_record(json.dumps(old))
    assert isinstance(alert, Alert) and alert.kind == "alert"
    for junk in (b"not json", b"[]", b'{"kind": "resolved", "id": "x"}'):
        with pytest.raises(ValueError):
            parse_alert_record(junk)


def _resolved(stream: str = "pump-1", severity: float = 2.5) -> Resolved:
    return Resolved(
        id=f"{stream}:0:7",
        stream=stream,
        ts=1_700_000_060.0,
        readings=31,
        severity=severity,
        model_id="default-3f2a9c1b",
        partition=0,
        offset=37,
    )


def _alert(severity: float = 2.5) -> Alert:
    return make_alert(severity=severity)


def test_alertmanager_resolves_the_alert_it_was_sent_and_slack_says_so() -> None:
    fired = json.loads(render("alertmanager", _alert()))[0]
    ended = json.loads(render("alertmanager", _resolved()))[0]
    assert ended["labels"] == fired["labels"]  # the same Alertmanager alert
    assert ended["endsAt"] == "2023-11-14T22:14:20.000Z" and "startsAt" not in ended
    assert "resolved after 31 readings" in ended["annotations"]["summary"]
    text = json.loads(render("slack", _resolved()))["text"]
    assert "resolved" in text and "`pump-1`" in text and "pump-1:0:7" in text
    assert json.loads(render("json", _resolved()))["kind"] == "resolved"


async def test_notify_delivers_a_resolution_where_its_alert_went_once() -> None:
    posted: list[tuple[str, bytes]] = []

    async def post(webhook, body: bytes) -> None:  # type: ignore[no-untyped-def]
        posted.append((webhook.url, body))

    cfg = parse_config(
        {
            "webhook": [
                {"name": "all", "url": "http://h/all"},
                {"name": "big", "url": "http://h/big", "min_severity": 2},
            ]
        }
    )
    sender = Sender(cfg, post=post)
    assert await sender.deliver(_alert(severity=1.0))
    assert await sender.deliver(_resolved(severity=1.0))  # same id, another kind: delivered
    assert not await sender.deliver(_resolved(severity=1.0))  # a redelivery
    assert [url for url, _ in posted] == ["http://h/all", "http://h/all"]
    assert (sender.stats.delivered, sender.stats.resolved, sender.stats.duplicates) == (2, 1, 1)


def test_tcnad_alerts_prints_a_resolved_record_without_counting_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _show(_resolved().to_bytes(), 0, 1, as_json=False) == 0
    assert _show(_alert().to_bytes(), 0, 2, as_json=False) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "pump-1  resolved after 31 readings  id=pump-1:0:7" in lines[0]
    assert _show(_resolved().to_bytes(), 0, 1, as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "resolved"


def test_the_dashboard_takes_a_resolved_record_and_keeps_showing_alerts() -> None:
    board = Board()
    assert apply_alert(board, _alert().to_bytes())
    assert apply_alert(board, _resolved().to_bytes())
    assert [a["id"] for a in board.alerts()] == ["pump-1:0:7"]
    assert board.skipped == 0
