"""The dev stack's append-only Redis refuses an AOF a crash cut inside a save's MULTI block
(``aof-load-truncated no``) and says, in one line, which command repairs it; the repaired
file has lost the cut block whole (docs/architecture.md, "Durability")."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import redis

from tcnad.topology.devstack.stack import RedisServer, StackError

WHOLE = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
# A MULTI block (a save script's writes) whose second write a crash cut short.
CUT = b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nc"


def values(server: RedisServer, keys: tuple[str, ...]) -> list[bytes | None]:
    client = redis.Redis.from_url(server.url, socket_timeout=5)
    try:
        return [client.get(k) for k in keys]
    finally:
        client.close()


def test_a_cut_aof_stops_redis_with_one_line_naming_the_repair(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "appendonly.aof").write_bytes(WHOLE + CUT)
    server = RedisServer(appendonly=True, data_dir=data, log_dir=tmp_path)
    try:
        # Without aof-load-truncated no, Redis 6.2 starts here with the block left open.
        with pytest.raises(StackError) as err:
            server.start(timeout_s=20)
        message = str(err.value)
        assert "\n" not in message, message
        assert message.startswith(f"redis refused its append-only file {server.aof_path}: ")
        assert server.pid is None
        found = re.search(r"`([^`]+)`", message)
        assert found is not None and "redis-check-aof" in found.group(1) and "--fix" in message

        # The operator runs the command the line gives (it asks before it cuts the file).
        fixed = subprocess.run(
            found.group(1), shell=True, input=b"y\n", capture_output=True, timeout=60
        )
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        server.start(timeout_s=20)
        assert values(server, ("a", "b")) == [b"1", None]

        # The cut block stays gone: a later script's writes, after a crash and a restart,
        # come back alone (Redis 6.2 with aof-load-truncated yes has b = 2 here).
        client = redis.Redis.from_url(server.url, socket_timeout=5)
        client.config_set("appendfsync", "always")
        client.eval("redis.call('SET', 'x', '1'); redis.call('SET', 'y', '2')", 0)
        client.close()
        server.kill()
        server.restart()
        assert values(server, ("a", "b", "x", "y")) == [b"1", None, b"1", b"2"]
    finally:
        server.stop()
    assert server.pid is None
