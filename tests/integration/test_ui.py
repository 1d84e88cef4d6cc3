"""`tcnad ui` in a real headless chromium: score records and alerts published to the topics
show up on the page, the clicked stream's chart draws its readings, band and alerts, and a
new alert appears without a reload.

Needs chromium (Debian's ``chromium`` package, or ``TCNAD_TEST_CHROMIUM=/path``) and the
``playwright`` package (dev extra), which drives it; Playwright's own browser download is
not used. Without them the test skips, except under CI (``CI`` set), where it fails:
``.ci/run`` installs chromium. ``TCNAD_TEST_SCREENSHOT=docs/img/dashboard.png`` also saves
the screenshot there (the one the README shows).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tcnad.topology.wire.schemas import Alert, ScoreRecord, alert_id
from tests.integration.kafka_helpers import create_topics
from tests.proc_helpers import wait_gone

ROOT = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "tcnad.topology.cli")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STREAM = "pump/7"  # a '/' in the name: the page must quote it in its URLs
OTHERS = [f"sensor-{i:02d}" for i in range(6)]
FIRST, LATER = 200, 20  # readings of STREAM before the page opens, and while it is open
SPIKES = {STREAM: (150, 210), OTHERS[2]: (70,)}  # readings far outside the band, alerted
T0 = 1_760_000_000.0


def _chromium() -> str:
    """The chromium to drive; skips (fails under CI) when there is none or no playwright."""
    path = os.environ.get("TCNAD_TEST_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None
    )
    why = None
    if not path:
        why = "no chromium installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "the playwright package is not installed (pip install -e '.[dev]')"
    if why is None:
        return str(path)
    if os.environ.get("CI"):
        pytest.fail(f"{why}: .ci/run installs what the dashboard test needs", pytrace=False)
    pytest.skip(why)


def _reading(stream: str, i: int, phase: float) -> tuple[ScoreRecord, Alert | None]:
    """Reading ``i`` of ``stream``: a wave inside a band that follows it (unknown for the
    first 10 readings), and at ``SPIKES`` a value far outside it with its alert."""
    ts = T0 + i
    median = 20.0 + 6.0 * math.sin(i / 18.0 + phase)
    value = median + 0.8 * math.sin(i * 1.7 + phase) + 0.5 * math.cos(i * 0.31)
    spike = i in SPIKES.get(stream, ())
    if spike:
        value = median + (-8.0 if i == SPIKES[STREAM][-1] else 9.0)  # the last goes below
    half = 2.2 + 0.4 * math.cos(i / 30.0)
    nan = [math.nan]
    lower, mid, upper = ([median - half], [median], [median + half]) if i >= 10 else (nan,) * 3
    common: dict[str, Any] = {
        "stream": stream,
        "ts": ts,
        "value": [value],
        "lower": lower,
        "median": mid,
        "upper": upper,
        "score": 0.999 if spike else 0.2,
        "partition": 0,
        "offset": i,
    }
    rec = ScoreRecord(alert=spike, **common)
    if not spike:
        return rec, None
    alert = Alert(
        id=alert_id(stream, 0, i), severity=4.0, tail_prob=1e-6, model_id="test", **common
    )
    return rec, alert


def _messages(
    scores: str, alerts: str, stream: str, steps: range, phase: float
) -> list[tuple[str, str, bytes]]:
    """The score records and alerts of ``stream`` for ``steps``, in publishing order."""
    out = []
    for i in steps:
        rec, alert = _reading(stream, i, phase)
        out.append((scores, stream, rec.to_bytes()))
        if alert is not None:
            direction = "above" if alert.value[0] > alert.upper[0] else "below"
            reason = {"band": 0.999, "novelty": 0.41}
            out.append((alerts, stream, _alert_bytes(alert, reason, direction)))
    return out


def _alert_bytes(alert: Alert, reason: dict[str, float], direction: str) -> bytes:
    body = json.loads(alert.to_bytes())
    body.update(reason=reason, direction=direction)
    return json.dumps(body).encode()


def _publish(bootstrap: str, messages: list[tuple[str, str, bytes]]) -> None:
    """Publish and wait for the acks, on a thread of its own (Playwright's sync API runs an
    event loop on this one)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _send(bootstrap, messages)).result(timeout=60)


async def _send(bootstrap: str, messages: list[tuple[str, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send(topic, value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _wait(what: str, check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _read_lines(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)


@pytest.fixture
def chromium() -> str:
    return _chromium()


@pytest.fixture
def ui(chromium: str, kafka_bootstrap: str, unique_name: str) -> Iterator[tuple[str, str, str]]:
    """`tcnad ui` on a free port over two new topics: yields (url, scores, alerts) once both
    consumers are live; stops it by its PID after."""
    scores, alerts = f"scores-{unique_name}", f"alerts-{unique_name}"
    asyncio.run(create_topics(kafka_bootstrap, {scores: 2, alerts: 2}))
    argv = [*CLI, "ui", "--bootstrap", kafka_bootstrap, "--port", "0"]
    argv += ["--scores-topic", scores, "--alerts-topic", alerts]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True)
    reader.start()
    try:
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline and proc.poll() is None:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line.startswith("tcnad ui: serving "):
                url = line.split()[-1]
        assert url, f"tcnad ui did not print its URL (exit {proc.poll()})"

        def live() -> bool:
            feeds = _get_json(url + "api/state")["feeds"]
            return all(feeds.get(k, "").startswith("live") for k in ("scores", "alerts"))

        _wait("both consumers to be live", live)
        yield url, scores, alerts
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        assert wait_gone([proc.pid]) == []
        out = []
        while not lines.empty():
            out.append(lines.get())
        print("".join(out))  # shown when the test fails


def _pixels(page: Any) -> dict[str, int]:
    """Counts of the chart canvas's band-blue and alert-red pixels, as drawn."""
    return page.evaluate(
        """() => {
        const c = document.querySelector('#chart canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let band = 0, red = 0;
        for (let i = 0; i < d.length; i += 4) {
          const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
          if (a > 30 && b > r + 25 && b > g + 10) band++;
          if (a > 200 && r > 180 && g < 90 && b < 90) red++;
        }
        return {band, red};
      }"""
    )


def test_the_dashboard_shows_streams_charts_a_band_and_new_alerts_live(
    chromium: str, ui: tuple[str, str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url, scores, alerts = ui
    first = _messages(scores, alerts, STREAM, range(FIRST), 0.0)
    for k, other in enumerate(OTHERS, start=1):
        first += _messages(scores, alerts, other, range(80), float(k))
    _publish(kafka_bootstrap, first)

    def on_board() -> bool:
        state = _get_json(url + "api/state?stream=pump%2F7")
        points = (state["selected"] or {}).get("points", [])
        return len(points) == FIRST and len(state["alerts"]) == 2

    _wait("the first readings and alerts on the board", on_board)

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 760},
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            row = page.locator(f'#streams tr[data-stream="{STREAM}"]')
            row.wait_for(timeout=15_000)
            assert page.locator("#streams tbody tr").count() == 1 + len(OTHERS)
            assert row.locator("td.count").inner_text() == "1"
            assert page.locator("#alerts tbody tr").count() == 2
            row.click()
            _wait_chart(page, FIRST, alerts=1)
            assert _drawn(page) == [FIRST, FIRST, FIRST - 10, FIRST - 10, FIRST - 10, 1]
            pixels = _pixels(page)
            assert pixels["band"] > 2000 and pixels["red"] > 20, pixels
            page.evaluate("() => { window.notReloaded = true; }")

            # more readings and a new alert arrive while the page is open
            later = _messages(scores, alerts, STREAM, range(FIRST, FIRST + LATER), 0.0)
            _publish(kafka_bootstrap, later)
            new_id = alert_id(STREAM, 0, SPIKES[STREAM][1])
            fresh = page.locator(f'#alerts tr[data-alert-id="{new_id}"]')
            fresh.wait_for(timeout=15_000)
            assert fresh.locator("td.reason").inner_text() == "band 0.999, novelty 0.41"
            assert fresh.locator("td.direction").inner_text() == "below"
            assert page.locator(f'#stream-alerts tr[data-alert-id="{new_id}"]').count() == 1
            _wait_chart(page, FIRST + LATER, alerts=2)
            assert row.locator("td.count").inner_text() == "2"
            assert page.evaluate("() => window.notReloaded === true")
            page.screenshot(path=str(tmp_path / "dashboard.png"))
            if os.environ.get("TCNAD_TEST_SCREENSHOT"):
                page.screenshot(path=os.environ["TCNAD_TEST_SCREENSHOT"])
        finally:
            browser.close()
    assert errors == []
    assert requests and all(r.startswith(url) for r in requests), requests


def _drawn(page: Any) -> list[int]:
    """Non-null values per chart series: time, value, lower, median, upper, alert marks."""
    return page.evaluate("() => window.tcnadChart.data.map(s => s.filter(v => v != null).length)")


def _wait_chart(page: Any, points: int, alerts: int) -> None:
    page.wait_for_function(
        "([n, a]) => { const c = window.tcnadChart; return c && c.data[0].length === n"
        " && c.data[5].filter(v => v != null).length === a; }",
        arg=[points, alerts],
        timeout=15_000,
    )
