"""ManagedProcess stops whole process groups, escalates to SIGKILL, and keeps a log."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tcnad.topology.devstack.processes import ManagedProcess, live_processes
from tests.proc_helpers import wait_gone


def _wait_for(path: Path) -> str:
    deadline = time.monotonic() + 10
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return path.read_text()


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    out = tmp_path / "grandchild"
    script = f"sleep 300 & echo $! > {out}; wait"
    proc = ManagedProcess("group", ["bash", "-c", script], tmp_path / "group.log")
    proc.start()
    grandchild = int(_wait_for(out))
    assert proc.pid in [p.pid for p in live_processes()]
    proc.stop(grace_s=5.0)
    assert proc.pid is not None
    assert wait_gone([grandchild, proc.pid], timeout_s=5.0) == []
    assert proc not in live_processes()


def test_a_child_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, sys, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).write_text('1')\n"
        "time.sleep(300)\n"
    )
    proc = ManagedProcess("stubborn", [sys.executable, "-c", code], tmp_path / "s.log")
    proc.start()
    _wait_for(ready)
    start = time.monotonic()
    status = proc.stop(grace_s=0.5)
    assert status == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - start < 60.0  # the child alone would sleep 300 s


def test_output_goes_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "echo.log"
    proc = ManagedProcess("echo", [sys.executable, "-c", "print('hello from child')"], log)
    proc.start()
    assert proc.wait(10) == 0
    assert proc.log_tail() == "hello from child"


def test_missing_executable_raises_and_registers_nothing(tmp_path: Path) -> None:
    proc = ManagedProcess("nothing", [str(tmp_path / "no-such-binary")], tmp_path / "n.log")
    with pytest.raises(OSError):
        proc.start()
    assert proc not in live_processes()
