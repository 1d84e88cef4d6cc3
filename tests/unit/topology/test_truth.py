"""The demo's summary: alerts matched with constructed ground truth (``devstack.truth``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tcnad.topology.devstack.fleet import SHIFT_WINDOW, SyntheticFleet
from tcnad.topology.devstack.truth import TOLERANCE_READINGS, read_alerts, score_alerts

START, INTERVAL = 1000.0, 2.0


def anomaly(kind: str, start: int, end: int, window_steps: int = 0) -> dict[str, Any]:
    """An anomaly on steps [start, end) as ``truth_document`` writes it."""
    ts = lambda step: START + step * INTERVAL  # noqa: E731
    return {
        "kind": kind,
        "start": start,
        "end": end,
        "start_ts": ts(start),
        "end_ts": ts(end - 1),
        "window_end_ts": ts(end - 1 + window_steps),
        "magnitude": 5.0,
    }


def truth(streams: dict[str, list[dict[str, Any]]], steps: int = 1000) -> dict[str, Any]:
    return {
        "start_ts": START,
        "interval": INTERVAL,
        "steps": steps,
        "streams": [{"stream": s, "kind": "sensor", "anomalies": a} for s, a in streams.items()],
    }


def at(step: float) -> float:
    return START + step * INTERVAL


BURST = anomaly("variance_burst", 100, 140)  # last reading: step 139
DOC = truth({"a": [BURST], "b": [anomaly("spike", 300, 301, 5)], "clean": []})


def test_an_alert_within_the_anomaly_alerts_it() -> None:
    card = score_alerts(DOC, [("a", at(100))])
    assert (card.total.alerted, card.total.missed, card.false_alerts) == (1, 1, [])
    assert card.kinds["variance_burst"].alerted == 1 and card.kinds["spike"].missed == 1


def test_an_alert_just_after_the_end_counts_up_to_the_tolerance() -> None:
    last = 139
    assert score_alerts(DOC, [("a", at(last + 1))]).kinds["variance_burst"].alerted == 1
    edge = score_alerts(DOC, [("a", at(last + TOLERANCE_READINGS))])
    assert edge.kinds["variance_burst"].alerted == 1 and edge.false_alerts == []
    late = score_alerts(DOC, [("a", at(last + TOLERANCE_READINGS + 1))])
    assert late.kinds["variance_burst"].missed == 1
    assert late.false_alerts == [("a", at(last + TOLERANCE_READINGS + 1))]


def test_an_alert_before_the_start_is_false() -> None:
    card = score_alerts(DOC, [("a", at(99))])
    assert card.total.alerted == 0 and card.false_alerts == [("a", at(99))]


def test_two_alerts_in_one_anomaly_make_one_alerted_anomaly() -> None:
    card = score_alerts(DOC, [("a", at(101)), ("a", at(120))])
    assert card.total.alerted == 1 and card.total.injected == 2
    assert card.alerts == 2 and card.false_alerts == []


def test_an_alert_on_a_clean_stream_or_an_unknown_one_is_false() -> None:
    card = score_alerts(DOC, [("clean", at(100)), ("nobody", at(100))])
    assert card.total.alerted == 0
    assert card.false_alerts == [("clean", at(100)), ("nobody", at(100))]


def test_an_alert_of_another_stream_does_not_alert_an_anomaly() -> None:
    card = score_alerts(DOC, [("b", at(110))])  # in a's anomaly, on b
    assert card.kinds["variance_burst"].missed == 1 and len(card.false_alerts) == 1


def test_a_level_shift_counts_alerts_over_its_window() -> None:
    shift = anomaly("level_shift", 200, 201)
    shift["window_end_ts"] = at(200 + SHIFT_WINDOW)
    doc = truth({"s": [shift]})
    assert score_alerts(doc, [("s", at(200 + SHIFT_WINDOW))]).total.alerted == 1
    after = score_alerts(doc, [("s", at(200 + SHIFT_WINDOW + 1))])
    assert after.total.missed == 1 and len(after.false_alerts) == 1


def test_an_anomaly_whose_window_outlasts_the_run_is_open_unless_alerted() -> None:
    doc = truth({"a": [BURST]}, steps=139 + TOLERANCE_READINGS)  # last reading: 148
    assert score_alerts(doc, []).total.open == 1
    assert score_alerts(doc, [("a", at(140))]).total.alerted == 1
    closed = truth({"a": [BURST]}, steps=139 + TOLERANCE_READINGS + 1)  # last reading: 149
    assert score_alerts(closed, []).total.missed == 1


def test_counts_add_up_per_kind_and_in_the_summary_line() -> None:
    doc = truth(
        {
            "a": [BURST, anomaly("flatline", 400, 430)],
            "b": [anomaly("spike", 300, 301, 5), anomaly("spike", 990, 991, 5)],
            "c": [],
        }
    )
    alerts = [("a", at(105)), ("a", at(420)), ("b", at(302)), ("c", at(50))]
    card = score_alerts(doc, alerts)
    assert {k: (t.alerted, t.missed, t.open) for k, t in card.kinds.items()} == {
        "variance_burst": (1, 0, 0),
        "flatline": (1, 0, 0),
        "spike": (1, 0, 1),
    }
    head, *rows = card.lines()
    assert head == (
        "summary: 4 anomalies injected: 3 alerted, 0 missed, 1 open at the stop; "
        "1 false alerts of 4 alerts"
    )
    assert " ".join(rows[0].split()) == "flatline 1 injected 1 alerted 0 missed 0 open"
    assert str(TOLERANCE_READINGS) in rows[-1]


def test_the_fleets_truth_document_is_read_as_written() -> None:
    fleet = SyntheticFleet(10, seed=1, interval=1.0, start_ts=0.0)
    fleet.block(3000)
    doc = json.loads(json.dumps(fleet.truth_document()))
    anomalies = [(s["stream"], a) for s in doc["streams"] for a in s["anomalies"]]
    stream, first = anomalies[0]
    card = score_alerts(doc, [(stream, first["start_ts"]), (doc["clean"][0], 5.0)])
    assert card.total.alerted == 1 and card.total.injected == len(anomalies)
    assert card.false_alerts == [(doc["clean"][0], 5.0)]


def test_read_alerts_keeps_each_alert_id_once_and_skips_unreadable_lines(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    rows = [
        {"id": "a:0:5", "stream": "a", "ts": 1.5},
        {"id": "a:0:5", "stream": "a", "ts": 1.5},  # sent again after a worker restart
        {"id": "b:1:7", "stream": "b", "ts": 2.0},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n{}\n")
    assert read_alerts(path) == [("a", 1.5), ("b", 2.0)]
    assert read_alerts(tmp_path / "missing.jsonl") == []


def test_read_alerts_skips_resolved_records(tmp_path: Path) -> None:
    """A resolved record carries its alert's id; one whose alert came before the file
    began must not count as an alert."""
    path = tmp_path / "alerts.jsonl"
    rows = [
        {"kind": "resolved", "id": "z:0:1", "stream": "z", "ts": 0.5, "readings": 31},
        {"kind": "alert", "id": "a:0:5", "stream": "a", "ts": 1.5},
        {"kind": "resolved", "id": "a:0:5", "stream": "a", "ts": 9.0, "readings": 31},
        {"id": "b:1:7", "stream": "b", "ts": 2.0},  # an older worker's alert: no kind
        [1, 2],
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert read_alerts(path) == [("a", 1.5), ("b", 2.0)]
