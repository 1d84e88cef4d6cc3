"""The embedded stack itself: readiness, restart with persistence, errors and teardown."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tcnad.topology.devstack.stack import (
    EmbeddedStack,
    KafkaBroker,
    RedisServer,
    StackError,
    free_port,
    kafka_answers,
)
from tests.proc_helpers import alive, wait_gone


def test_redis_kill_and_restart_keeps_appendonly_data(tmp_path: Path) -> None:
    server = RedisServer(appendonly=True, data_dir=tmp_path / "data", log_dir=tmp_path)
    server.start()
    try:
        port, first_pid = server.port, server.pid
        assert first_pid is not None
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.close()
        server.kill()
        assert wait_gone([first_pid]) == []
        server.restart()
        assert server.port == port and server.pid not in (None, first_pid)
        client = redis.Redis.from_url(server.url)
        assert client.get("k") == b"v"
        client.close()
    finally:
        server.stop()
    assert server.pid is None


def test_redis_without_appendonly_forgets_on_restart(tmp_path: Path) -> None:
    server = RedisServer(log_dir=tmp_path)
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        client.close()
        server.kill()
        server.restart()
        client = redis.Redis.from_url(server.url)
        assert client.get("k") is None
        client.close()
    finally:
        server.stop()


class _SilentRedis(RedisServer):
    """A redis-server whose readiness probe never succeeds."""

    def _answers(self) -> bool:
        return False


def test_start_timeout_names_the_log_file(tmp_path: Path) -> None:
    server = _SilentRedis(log_dir=tmp_path)
    with pytest.raises(StackError) as err:
        server.start(timeout_s=1.0)
    assert str(server.log_path) in str(err.value)
    assert "Ready to accept connections" in str(err.value)  # the log's tail is quoted
    assert not server.running


class _BadConfigRedis(RedisServer):
    """A redis-server given an option it does not know: it exits at once."""

    def _argv(self) -> list[str]:
        return [*super()._argv(), "--no-such-option", "1"]


def test_early_exit_is_reported_with_status_and_log(tmp_path: Path) -> None:
    server = _BadConfigRedis(port=free_port(), log_dir=tmp_path)
    with pytest.raises(StackError, match="exited with status") as err:
        server.start(timeout_s=10.0)
    assert str(server.log_path) in str(err.value)
    assert "no-such-option" in str(err.value)  # redis-server's own complaint, from the log


def test_start_twice_is_refused(tmp_path: Path) -> None:
    with RedisServer(log_dir=tmp_path) as server, pytest.raises(StackError, match="already"):
        server.start()


def test_fixed_port_in_use_is_refused(tmp_path: Path) -> None:
    with RedisServer(log_dir=tmp_path / "a") as first, pytest.raises(StackError, match="in use"):
        RedisServer(port=first.port, log_dir=tmp_path / "b").start()


def test_kafka_broker_answers_then_stops(tmp_path: Path) -> None:
    broker = KafkaBroker(log_dir=tmp_path)
    broker.start()
    pid = broker.pid
    assert pid is not None and kafka_answers(broker.bootstrap)
    broker.stop()
    assert wait_gone([pid]) == []
    assert not kafka_answers(broker.bootstrap)


def test_stack_tears_down_when_the_block_raises(tmp_path: Path) -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), EmbeddedStack(log_dir=tmp_path) as stack:
        pids = [p for p in (stack.kafka.pid, stack.redis.pid) if p is not None]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        raise RuntimeError("boom")
    assert wait_gone(pids) == []


_CHILD = """
import sys, time
from tcnad.topology.devstack.stack import EmbeddedStack
stack = EmbeddedStack(log_dir=sys.argv[1])
stack.start()
print(stack.kafka.pid, stack.redis.pid, flush=True)
time.sleep(120)
"""


def test_services_die_with_a_killed_parent(tmp_path: Path) -> None:
    """Even SIGKILL of the parent (no atexit, no handlers) leaves no broker or Redis."""
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(pids) == []
    finally:
        parent.kill()
        parent.wait()
