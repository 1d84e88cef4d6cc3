"""The README's demo command: `tcnad up --duration` runs the whole pipeline on the embedded
stack, prints alerts for the injected anomalies, the worker's /metrics and /health URLs and,
at its end (by duration or SIGTERM), a summary of the anomalies alerted and missed; it exits
0 and leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tcnad.topology.devstack.truth import read_alerts, score_alerts
from tests.proc_helpers import wait_gone

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 50
SIGTERM_AFTER_S = 25  # after the worker serves its metrics

pytestmark = pytest.mark.timeout(DURATION_S + 180)

_SUMMARY = re.compile(
    r"^summary: (\d+) anomalies injected: (\d+) alerted, (\d+) missed, (\d+) open at the stop; "
    r"(\d+) false alerts of (\d+) alerts$"
)
_KIND = re.compile(r"^  (\w+) +(\d+) injected +(\d+) alerted +(\d+) missed +(\d+) open$")
_URLS = re.compile(r"^worker +metrics (http://\S+/metrics) +health (http://\S+/health) +log (\S+)$")


def _alerts(lines: list[str]) -> list[tuple[str, float]]:
    """(stream, reading timestamp) of each printed alert line (not the lines of resolved
    records, which name their alert's id too)."""
    out = []
    for line in lines:
        words = line.split()
        if " resolved after " in line:
            continue
        if len(words) > 2 and any(w.startswith("id=") for w in words):
            ts = dt.datetime.fromisoformat(words[0].replace("Z", "+00:00")).timestamp()
            out.append((words[1], ts))
    return out


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:  # /health answers 503 while a dependency is down
        return exc.code, exc.read()


def _run_demo(tmp_path: Path, stop_by_sigterm: bool) -> tuple[list[str], dict[str, object]]:
    """Run `tcnad up`, fetch the worker's URLs once printed; its stdout lines and what the
    URLs answered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCNAD_")}
    duration = 10 * DURATION_S if stop_by_sigterm else DURATION_S
    argv = [sys.executable, "-m", "tcnad.topology.cli", "up", "--duration", str(duration)]
    stderr = (tmp_path / "up.stderr").open("w")
    proc = subprocess.Popen(
        [*argv, "--log-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    lines: list[str] = []
    seen: dict[str, object] = {}
    stop: threading.Timer | None = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            m = _URLS.match(lines[-1])
            if m and not seen:
                seen["metrics"] = _get(m.group(1))
                seen["health"] = _get(m.group(2))
                seen["log"] = m.group(3)
                if stop_by_sigterm:
                    stop = threading.Timer(SIGTERM_AFTER_S, proc.send_signal, (signal.SIGTERM,))
                    stop.start()
        seen["code"] = proc.wait(timeout=120)
    finally:
        if stop is not None:
            stop.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
    seen["stderr"] = (tmp_path / "up.stderr").read_text()[-4000:]
    return lines, seen


def _summary(lines: list[str]) -> tuple[list[int], dict[str, list[int]]]:
    heads = [i for i, line in enumerate(lines) if _SUMMARY.match(line)]
    assert len(heads) == 1, lines[-20:]
    i = heads[0]
    m = _SUMMARY.match(lines[i])
    assert m is not None
    kinds = {}
    for line in lines[i + 1 :]:
        k = _KIND.match(line)
        if k is None:
            break
        kinds[k.group(1)] = [int(x) for x in k.groups()[1:]]
    return [int(x) for x in m.groups()], kinds


@pytest.mark.parametrize("stop_by_sigterm", [False, True], ids=["duration", "sigterm"])
def test_demo_prints_alerts_urls_and_a_summary_that_adds_up(
    tmp_path: Path, stop_by_sigterm: bool
) -> None:
    lines, seen = _run_demo(tmp_path, stop_by_sigterm)
    assert seen["code"] == 0, seen["stderr"]
    pids = [int(w[4:]) for line in lines for w in line.split() if w.startswith("pid=")]
    assert len(pids) == 6  # kafka, redis, alerts, ui, worker, produce
    assert wait_gone(pids) == []

    # the worker's URLs, printed once it serves them, answered while the demo ran
    assert "metrics" in seen, lines[-40:]
    status, body = seen["metrics"]  # type: ignore[misc]
    assert status == 200 and b"tcnad_records_total" in body
    status, body = seen["health"]  # type: ignore[misc]
    assert status in (200, 503) and "status" in json.loads(body)
    assert seen["log"] == str(tmp_path / "worker.log")

    # the summary: its numbers add up and are those of the truth and the alerts shown
    truth = json.loads((tmp_path / "truth.json").read_text())
    shown = _alerts(lines)
    assert read_alerts(tmp_path / "alerts.jsonl") == shown  # the tail saved what it printed
    (injected, alerted, missed, still_open, false, n_alerts), kinds = _summary(lines)
    assert alerted + missed + still_open == injected
    assert injected == sum(len(s["anomalies"]) for s in truth["streams"]) > 0
    assert n_alerts == len(shown) and false <= n_alerts
    assert sorted(kinds) == sorted({a["kind"] for s in truth["streams"] for a in s["anomalies"]})
    assert all(k[1] + k[2] + k[3] == k[0] for k in kinds.values())
    per_kind = [sum(k[j] for k in kinds.values()) for j in range(4)]
    assert per_kind == [injected, alerted, missed, still_open]
    card = score_alerts(truth, shown)
    t = card.total
    assert [t.alerted, t.missed, t.open, len(card.false_alerts)] == [
        alerted,
        missed,
        still_open,
        false,
    ]
    assert lines[-1] == f"logs, truth.json and alerts.jsonl in {tmp_path}"

    # and the detector does its job: anomalies alerted, most alerts on an anomaly (the
    # clean streams may raise a few while their range is still being learned)
    assert alerted >= 5, lines[-40:]
    assert false <= 0.4 * n_alerts, (card.false_alerts, lines[-40:])
