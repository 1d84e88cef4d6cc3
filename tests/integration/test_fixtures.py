"""The session fixtures leave no broker or Redis behind, even when the run is cancelled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.proc_helpers import alive, wait_gone

ROOT = Path(__file__).resolve().parents[2]

_CANCELLED_TEST = """
import time
from pathlib import Path
from tcnad.topology.devstack.processes import live_processes

def test_waits_to_be_cancelled(kafka_bootstrap, redis_url):
    pids = " ".join(str(p.pid) for p in live_processes())
    Path({out!r}).write_text(pids)
    time.sleep(120)
"""


def test_sigterm_to_pytest_tears_the_embedded_stack_down(tmp_path: Path) -> None:
    out = tmp_path / "pids"
    test_file = tmp_path / "test_cancelled.py"
    test_file.write_text(_CANCELLED_TEST.format(out=str(out)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCNAD_TEST_")}
    env["TCNAD_TEST_DOCKER"] = "0"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest"]
    argv += ["-p", "tests.integration.conftest", "--rootdir", str(tmp_path), str(test_file)]
    run = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = [int(p) for p in out.read_text().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=60)
        assert run.returncode != 0, output  # cancelled, not passed
        assert "KeyboardInterrupt" in output  # the session unwound and ran its teardown
        assert wait_gone(pids) == []
    finally:
        run.kill()
        run.wait()
