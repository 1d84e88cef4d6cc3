"""Synthetic fleet and CSV replay: valid wire messages, deterministic, truthful ground truth."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tcnad.detector.lab.synthetic import ANOMALY_KINDS
from tcnad.detector.lab.tables import BadRow
from tcnad.topology.devstack.fleet import CsvReplay, SyntheticFleet, tick_symbols
from tcnad.topology.wire.decode import RawRecord, decode_batch


def decoded(messages: list[tuple[bytes, bytes]], width: int) -> dict[str, list[tuple[float, ...]]]:
    records = [RawRecord("r", 0, i, k, v, None) for i, (k, v) in enumerate(messages)]
    good, bad = decode_batch(records, width)
    assert not bad, bad[:3]
    out: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    for d in good:
        out[d.reading.stream].append((d.reading.ts, *d.reading.values))
    return out


@pytest.mark.parametrize("width", [1, 3])
def test_messages_are_valid_regular_and_keyed(width: int) -> None:
    fleet = SyntheticFleet(12, seed=3, width=width, start_ts=1000.0, interval=0.5)
    msgs = list(fleet.messages(300, block=64))
    assert len(msgs) == 12 * 300
    assert all(json.loads(v)["stream"].encode() == k for k, v in msgs)
    series = decoded(msgs, width)
    assert sorted(series) == sorted(fleet.ids)
    for rows in series.values():
        ts = np.array([r[0] for r in rows])
        assert np.allclose(ts, 1000.0 + 0.5 * np.arange(300))


def test_ids_kinds_and_clean_share() -> None:
    fleet = SyntheticFleet(20, seed=1, tick_fraction=0.25, anomalous_fraction=0.5)
    assert fleet.ids[:15] == [f"sensor-{i:04d}" for i in range(15)]
    assert all(s.startswith("tick-") for s in fleet.ids[15:])
    assert len(set(fleet.ids)) == 20
    doc = fleet.truth_document(3000)
    assert len(doc["clean"]) == 10 and len(doc["anomalous"]) == 10
    assert json.loads(json.dumps(doc)) == doc


def test_deterministic_and_independent_of_block_size() -> None:
    a = list(SyntheticFleet(8, seed=5).messages(500, block=256))
    b = list(SyntheticFleet(8, seed=5).messages(500, block=37))
    c = list(SyntheticFleet(8, seed=6).messages(500))
    assert a == b and a != c


def test_anomalies_follow_the_schedule_rules() -> None:
    fleet = SyntheticFleet(30, seed=2, first_anomaly=300, gap=(150, 400))
    doc = fleet.truth_document(5000)
    kinds = set()
    for s in doc["streams"]:
        prev_end = None
        for a in s["anomalies"]:
            kinds.add(a["kind"])
            assert a["start"] >= 300 and a["end"] > a["start"]
            assert a["start_ts"] == doc["start_ts"] + a["start"] * doc["interval"]
            assert a["window_end_ts"] >= a["end_ts"] >= a["start_ts"]
            if prev_end is not None:
                assert a["start"] - prev_end >= 150
            prev_end = a["end"]
    assert kinds == set(ANOMALY_KINDS)


def test_injected_anomalies_are_exactly_where_the_truth_says() -> None:
    """The same seed without anomalies gives the same baseline, so the difference between
    the two fleets is the injected effect alone."""
    n, steps = 16, 2500
    dirty = SyntheticFleet(n, seed=9, anomalous_fraction=0.5)
    clean = SyntheticFleet(n, seed=9, anomalous_fraction=0.0)
    base = clean.block(steps)
    diff = dirty.block(steps) - base  # (steps, streams, width)
    truth = {s.stream: s.anomalies for s in dirty.truth(steps)}
    for i, stream in enumerate(dirty.ids):
        signed = diff[:, i, 0]
        d = np.abs(signed)
        if not truth[stream]:
            assert d.max() == 0.0, stream
            continue
        first = truth[stream][0].start
        if truth[stream][0].kind == "flatline":  # it holds the reading at its start
            first += 1
        assert d[:first].max() == 0.0 and d[first] > 0.0, stream
        for a in truth[stream]:
            if a.kind == "spike" and dirty.kinds[i] == "sensor":
                noise = np.std(np.diff(base[:, i, 0]))
                jump = abs(signed[a.start] - signed[a.start - 1])  # earlier shifts cancel out
                assert jump > 3 * noise, (stream, a)


def test_values_stay_finite_and_ticks_positive() -> None:
    fleet = SyntheticFleet(40, seed=4, tick_fraction=0.5)
    values = fleet.block(5000)
    assert np.isfinite(values).all()
    ticks = [i for i, k in enumerate(fleet.kinds) if k == "tick"]
    assert (values[:, ticks] > 0).all()


def test_tick_symbols_are_distinct() -> None:
    syms = tick_symbols(300, np.random.default_rng(0))
    assert len(set(syms)) == 300 and syms[0] == "AAPL"


def test_csv_replay_merges_files_by_time_and_skips_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "pump-1.csv").write_text(
        "timestamp,value\n2024-01-01T00:00:00Z,1.5\n2024-01-01T00:00:02Z,nan\n"
        "2024-01-01T00:00:04Z,2.5\n"
    )
    (tmp_path / "pump-2.csv").write_text("1704067201,10\n1704067203,11\nbad,12\n")
    with pytest.raises(BadRow, match=r"pump-1\.csv:3: value 'nan' in column 'value'"):
        CsvReplay(sorted(tmp_path.glob("*.csv")))
    replay = CsvReplay(sorted(tmp_path.glob("*.csv")), skip_bad_rows=True)
    msgs = list(replay.messages())
    assert [(b.path.name, b.line) for b in replay.skipped] == [("pump-1.csv", 3), ("pump-2.csv", 3)]
    got = [(json.loads(v)["stream"], json.loads(v)["ts"], json.loads(v)["value"]) for _, v in msgs]
    assert got == [
        ("pump-1", 1704067200.0, 1.5),
        ("pump-2", 1704067201.0, 10.0),
        ("pump-2", 1704067203.0, 11.0),
        ("pump-1", 1704067204.0, 2.5),
    ]
    assert [k for k, _ in msgs] == [b"pump-1", b"pump-2", b"pump-2", b"pump-1"]


def test_csv_replay_multi_value_rows(tmp_path: Path) -> None:
    (tmp_path / "tick-X.csv").write_text("1,2.0,300\n2,2.5,310\n")
    msgs = list(CsvReplay([tmp_path / "tick-X.csv"], width=2).messages())
    assert decoded(msgs, 2)["tick-X"] == [(1.0, 2.0, 300.0), (2.0, 2.5, 310.0)]


def test_csv_replay_wire_rules_make_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text("timestamp,value\n1,1\n2,1e300\n3,3\n")
    with pytest.raises(BadRow, match=r"big\.csv:3: out_of_range"):
        CsvReplay([tmp_path / "big.csv"])
    replay = CsvReplay([tmp_path / "big.csv"], skip_bad_rows=True)
    assert replay.count() == 2 and [b.line for b in replay.skipped] == [3]
