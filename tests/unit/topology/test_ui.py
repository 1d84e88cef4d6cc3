"""The dashboard: its bounded board, its records, its routes and event stream (called as an
ASGI app, no server), its static files and its command's flags."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from typing import Any

import pytest

from tcnad.topology.cli.main import main
from tcnad.topology.ui.app import STATIC, create_app
from tcnad.topology.ui.board import Board, Limits
from tcnad.topology.ui.feed import apply_alert, apply_score
from tcnad.topology.wire.schemas import Alert, ScoreRecord

NAN = math.nan


def score(stream: str, ts: float, value: float, lo: float = 0.0, hi: float = 10.0) -> ScoreRecord:
    return ScoreRecord(
        stream=stream,
        ts=ts,
        value=[value],
        lower=[lo],
        median=[(lo + hi) / 2],
        upper=[hi],
        score=0.5,
        alert=False,
        partition=0,
        offset=int(ts),
    )


def alert(stream: str, ts: float, offset: int = 7) -> Alert:
    return Alert(
        id=f"{stream}:0:{offset}",
        stream=stream,
        ts=ts,
        value=[42.0],
        lower=[0.0],
        median=[5.0],
        upper=[10.0],
        severity=3.2,
        tail_prob=1e-5,
        score=0.99,
        model_id="m",
        partition=0,
        offset=offset,
    )


def test_a_stream_keeps_its_last_window_of_readings_and_since_gives_the_newer_ones() -> None:
    board = Board(Limits(window=5))
    for t in range(12):
        assert board.add_score(score("s", 100.0 + t, float(t)))
    kept = board.stream("s")
    assert kept is not None
    assert [p["ts"] for p in kept["points"]] == [107.0, 108.0, 109.0, 110.0, 111.0]
    seen = board.seq
    board.add_score(score("s", 112.0, 1.0))
    newer = board.stream("s", since=seen)
    assert newer is not None and [p["ts"] for p in newer["points"]] == [112.0]
    assert [s["stream"] for s in board.summaries(since=seen)] == ["s"]
    assert board.summaries(since=board.seq) == []


def test_a_redelivered_reading_or_alert_changes_nothing() -> None:
    board = Board()
    assert board.add_score(score("s", 10.0, 1.0))
    assert not board.add_score(score("s", 10.0, 1.0))
    assert not board.add_score(score("s", 9.0, 1.0))
    assert board.add_alert(alert("s", 10.0))
    seq = board.seq
    assert not board.add_alert(alert("s", 10.0))
    assert board.seq == seq
    (summary,) = board.summaries()
    assert summary["alerts"] == 1 and len(board.alerts()) == 1


def test_the_least_recently_updated_stream_goes_when_a_new_one_comes() -> None:
    board = Board(Limits(streams=2))
    board.add_score(score("a", 1.0, 1.0))
    board.add_score(score("b", 1.0, 1.0))
    board.add_score(score("a", 2.0, 1.0))  # "b" is now the least recently updated
    board.add_score(score("c", 1.0, 1.0))
    assert board.streams() == ["a", "c"]
    assert board.stream("b") is None


def test_an_unknown_band_is_null_and_a_value_outside_its_band_is_flagged() -> None:
    board = Board()
    board.add_score(
        ScoreRecord(
            stream="s",
            ts=1.0,
            value=[3.0],
            lower=[NAN],
            median=[NAN],
            upper=[NAN],
            score=NAN,
            alert=False,
            partition=0,
            offset=0,
        )
    )
    (first,) = board.summaries()
    assert first["lower"] == [None] and first["score"] is None and first["outside"] is False
    json.dumps(board.summaries(), allow_nan=False)  # the page gets valid JSON
    board.add_score(score("s", 2.0, 11.0, lo=0.0, hi=10.0))
    assert board.summaries()[0]["outside"] is True
    board.add_score(score("s", 3.0, 9.0, lo=0.0, hi=10.0))
    assert board.summaries()[0]["outside"] is False


def test_records_from_the_topics_are_parsed_and_bad_ones_refused() -> None:
    board = Board()
    body = alert("s", 5.0).model_dump()
    body.update(reason={"level": 0.97, "band": 0.6}, direction="above")
    assert apply_alert(board, json.dumps(body).encode())
    (shown,) = board.alerts()
    assert shown["reason"] == {"level": 0.97, "band": 0.6} and shown["direction"] == "above"
    assert apply_score(board, score("s", 6.0, 1.0).to_bytes())
    assert not apply_alert(board, b'{"stream": "s"}')
    assert not apply_alert(board, b"not json")
    assert not apply_score(board, alert("s", 7.0).to_bytes())
    assert not apply_score(board, None)
    without = alert("t", 5.0).to_bytes()  # an older worker's alert, or an empty reason
    assert apply_alert(board, without)
    assert "reason" not in board.alerts()[-1] and "direction" not in board.alerts()[-1]


async def _get(app: Any, path: str, query: str = "", chunks: int = 1) -> tuple[int, dict, bytes]:
    """Call ``app`` as a server would; hang up after ``chunks`` body messages."""
    out: list[bytes] = []
    start: dict[str, Any] = {}
    gone = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body" and message.get("body"):
            out.append(message["body"])
            if len(out) >= chunks:
                gone.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), 10)
    headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], headers, b"".join(out)


async def test_the_page_loads_only_its_own_files() -> None:
    app = create_app(Board())
    status, headers, body = await _get(app, "/")
    assert status == 200 and "default-src 'self'" in headers["content-security-policy"]
    html = body.decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(not re.match(r"[a-z]+:|//", r) for r in refs), refs
    for ref in refs:
        status, _, content = await _get(app, "/" + ref)
        assert status == 200 and content, ref
    script = (STATIC / "app.js").read_text()
    assert not re.search(r"https?://", script)


async def test_state_and_the_event_stream_give_a_snapshot_then_the_changes() -> None:
    board = Board()
    board.add_score(score("pump/1", 1.0, 4.0))
    app = create_app(board, config={"window": 600}, tick_s=0.01)
    status, _, body = await _get(app, "/api/state", "stream=pump%2F1")
    state = json.loads(body)
    assert status == 200 and state["config"] == {"window": 600}
    assert [p["value"] for p in state["selected"]["points"]] == [[4.0]]

    async def add_later() -> None:
        await asyncio.sleep(0.05)
        board.add_score(score("pump/1", 2.0, 5.0))
        board.add_alert(alert("pump/1", 2.0))

    task = asyncio.create_task(add_later())
    status, headers, body = await _get(app, "/api/events", "stream=pump%2F1", chunks=2)
    await task
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [e for e in body.decode().split("\n\n") if e.startswith("event:")]
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    data = [json.loads(e.split("\n")[1].removeprefix("data: ")) for e in events]
    assert names == ["snapshot", "update"]
    assert [p["ts"] for p in data[0]["selected"]["points"]] == [1.0]
    update = data[1]
    assert [p["ts"] for p in update["selected"]["points"]] == [2.0]
    assert [a["id"] for a in update["alerts"]] == ["pump/1:0:7"]
    assert update["streams"][0]["alerts"] == 1


def test_the_shipped_chart_library_is_the_recorded_version_with_its_licence() -> None:
    notes = (STATIC / "THIRD_PARTY.md").read_text()
    head = (STATIC / "uPlot.iife.min.js").read_text()[:100]
    version = re.search(r"\(v([0-9.]+)\)", head)
    assert version and f"| {version.group(1)} |" in notes
    assert "MIT License" in (STATIC / "uPlot.LICENSE").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"):
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in notes, name


@pytest.mark.parametrize(
    ("flags", "why"),
    [(["--port", "70000"], "--port"), (["--window", "0"], "--window")],
)
def test_bad_flags_are_one_line_and_exit_2(
    flags: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ui", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and why in err
