"""The README's demo command: `tcnad up --duration` runs the whole pipeline on the embedded
stack, prints alerts for the injected anomalies, exits 0 and leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcnad.topology.devstack.fleet import check_alerts
from tests.proc_helpers import wait_gone

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 50

pytestmark = pytest.mark.timeout(DURATION_S + 180)


def _alerts(lines: list[str]) -> list[tuple[str, float]]:
    """(stream, reading timestamp) of each printed alert line."""
    out = []
    for line in lines:
        words = line.split()
        if len(words) > 2 and any(w.startswith("id=") for w in words):
            ts = dt.datetime.fromisoformat(words[0].replace("Z", "+00:00")).timestamp()
            out.append((words[1], ts))
    return out


def test_demo_prints_alerts_for_injected_anomalies_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCNAD_")}
    argv = [sys.executable, "-m", "tcnad.topology.cli", "up", "--duration", str(DURATION_S)]
    run = subprocess.run(
        [*argv, "--log-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DURATION_S + 150,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    lines = run.stdout.splitlines()
    pids = [int(w[4:]) for line in lines for w in line.split() if w.startswith("pid=")]
    assert len(pids) == 5  # kafka, redis, alerts, worker, produce
    assert wait_gone(pids) == []

    truth = json.loads((tmp_path / "truth.json").read_text())
    check = check_alerts(truth, _alerts(lines))
    n_alerts = len(_alerts(lines))
    assert len(check.detected) >= 5, run.stdout[-4000:]
    # Most alerts point at an injected anomaly (the clean streams may raise a few while
    # their range is still being learned).
    assert len(check.false_alerts) <= 0.4 * n_alerts, (check.false_alerts, run.stdout[-4000:])
