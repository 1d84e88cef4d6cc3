"""`tcnad up`: the stack-only mode as a real subprocess, and the demo's supervision logic."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tcnad.topology.cli.up import Child, run_children
from tcnad.topology.devstack.stack import EmbeddedStack, kafka_answers
from tests.proc_helpers import alive, wait_gone

ROOT = Path(__file__).resolve().parents[2]
_TCNAD = (sys.executable, "-m", "tcnad.topology.cli")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell does for a background job


def _start_up(
    tmp_path: Path, *extra: str, sigint_ignored: bool = False
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Run `tcnad up --stack-only` and read its announcement (addresses, pids, exports)."""
    proc = subprocess.Popen(
        [*_TCNAD, "up", "--stack-only", "--log-dir", str(tmp_path), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )
    assert proc.stdout is not None
    info: dict[str, str] = {}
    for line in proc.stdout:
        words = line.split()
        if words[0] == "export":
            key, _, value = words[1].partition("=")
            info[key] = value
        else:
            info[words[0]] = words[1]
            info[f"{words[0]}_pid"] = words[2].removeprefix("pid=") if len(words) > 2 else ""
        if "TCNAD_REDIS_URL" in info:
            break
    return proc, info


@pytest.mark.parametrize(
    ("sig", "sigint_ignored"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
)
def test_stack_only_serves_then_leaves_no_process(
    tmp_path: Path, sig: int, sigint_ignored: bool
) -> None:
    proc, info = _start_up(tmp_path, sigint_ignored=sigint_ignored)
    try:
        pids = [int(info["kafka_pid"]), int(info["redis_pid"])]
        assert all(alive(p) for p in pids)
        assert info["TCNAD_KAFKA_BOOTSTRAP"] == info["kafka"]
        assert info["TCNAD_REDIS_URL"] == info["redis"]
        assert kafka_answers(info["kafka"])
        client = redis.Redis.from_url(info["redis"])
        assert client.ping()
        client.close()
        proc.send_signal(sig)
        assert proc.wait(30) == 0
        assert wait_gone(pids) == []
    finally:
        proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()


def test_stack_only_duration_exits_zero(tmp_path: Path) -> None:
    proc, info = _start_up(tmp_path, "--duration", "1")
    try:
        pids = [int(info["kafka_pid"]), int(info["redis_pid"])]
        assert proc.wait(30) == 0
        assert wait_gone(pids) == []
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()


_ECHO_ENV = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'w').write(os.environ['TCNAD_KAFKA_BOOTSTRAP'] + ' '"
    " + os.environ['TCNAD_REDIS_URL'] + ' ' + str(os.getpid()))\n"
    "time.sleep(600)\n"
)


def test_demo_children_get_the_stack_and_stop_at_duration(tmp_path: Path) -> None:
    children = [
        Child(f"c{i}", (sys.executable, "-c", _ECHO_ENV, str(tmp_path / f"c{i}"))) for i in range(3)
    ]
    with EmbeddedStack(log_dir=tmp_path) as stack:
        start = time.monotonic()
        assert run_children(stack, children, tmp_path, duration=2.0) == 0
        assert time.monotonic() - start >= 2.0
        seen = [(tmp_path / f"c{i}").read_text().split() for i in range(3)]
    assert all(s[:2] == [stack.kafka_bootstrap, stack.redis_url] for s in seen)
    assert wait_gone([int(s[2]) for s in seen]) == []


_BROKEN = "import sys, time\ntime.sleep(2)\nprint('bad config')\nsys.exit(3)\n"


def test_demo_fails_when_a_child_fails(tmp_path: Path) -> None:
    children = [
        Child("steady", (sys.executable, "-c", _ECHO_ENV, str(tmp_path / "steady"))),
        Child("broken", (sys.executable, "-c", _BROKEN)),
    ]
    with EmbeddedStack(log_dir=tmp_path) as stack:
        assert run_children(stack, children, tmp_path, duration=60.0) == 1
    assert "bad config" in (tmp_path / "broken.log").read_text()
    assert wait_gone([int((tmp_path / "steady").read_text().split()[2])]) == []
