"""The embedded dev stack: a real Kafka-protocol broker (tansu) and a real redis-server.

Both run as child processes on free loopback ports, log to files, and count as started only
once they answer (a Kafka Metadata request; a Redis PING). They stop on ``stop()``, at the end
of a ``with`` block, at interpreter exit, and - through a parent-death signal - even when the
program that started them is killed (see :mod:`topology.processes`).

    with EmbeddedStack() as stack:
        stack.kafka_bootstrap   # "127.0.0.1:PORT"
        stack.redis_url         # "redis://127.0.0.1:PORT/0"
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from tcnad.topology.devstack.probes import (
    HOST,
    StackError,
    free_port,
    kafka_answers,
    port_in_use,
    redis_answers,
    redis_server_bin,
    tansu_bin,
)
from tcnad.topology.devstack.processes import ManagedProcess

if TYPE_CHECKING:
    from typing_extensions import Self

    from tcnad.topology.devstack.cluster import RedisClusterStack

__all__ = [
    "EmbeddedStack",
    "KafkaBroker",
    "RedisServer",
    "StackError",
    "free_port",
    "kafka_answers",
    "port_in_use",
    "redis_answers",
]

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
_PORT_RETRIES = 3


class _StartStop:
    """``with x:`` starts ``x`` and stops it on the way out, whatever ends the block."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Service(_StartStop):
    """A loopback service run as a managed child process; subclasses give argv and a probe."""

    name = "service"

    def __init__(self, port: int | None, log_dir: Path | str | None) -> None:
        self._fixed_port = port is not None
        self.port = port if port is not None else self._free_port()
        self._owned_dir: Path | None = None
        if log_dir is None:
            log_dir = self._owned_dir = Path(tempfile.mkdtemp(prefix=f"tcnad-{self.name}-"))
            atexit.register(self._remove_owned_dir)
        self.log_dir = Path(log_dir)
        self._proc: ManagedProcess | None = None
        self._keep_logs = False

    @property
    def log_path(self) -> Path:
        """Where the service writes its output (appended to across restarts)."""
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        """The service's pid while it runs, else None."""
        return self._proc.pid if self._proc is not None and self._proc.running else None

    @property
    def running(self) -> bool:
        """True while the service process is alive."""
        return self._proc is not None and self._proc.running

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _free_port(self) -> int:
        """A port for a service given none, and for another try after its port was taken."""
        return free_port()

    def _answers(self) -> bool:
        raise NotImplementedError

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the service and wait until it answers; raise StackError naming the log file."""
        if self.running:
            raise StackError(f"{self.name} is already running on {HOST}:{self.port}")
        status: int | None = None
        for attempt in range(_PORT_RETRIES):
            if port_in_use(self.port):
                if self._fixed_port:
                    raise StackError(f"cannot start {self.name}: {HOST}:{self.port} is in use")
                self.port = self._free_port()
                continue
            logged = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._proc = ManagedProcess(self.name, self._argv(), self.log_path)
            try:
                self._proc.start()
            except OSError as exc:
                self._keep_logs = True
                raise StackError(f"cannot run {self.name}: {exc}") from exc
            if self._wait_ready(timeout_s):
                logger.info("%s ready port=%d pid=%s", self.name, self.port, self.pid)
                return
            status = self._proc.returncode
            self._proc.kill()
            refused = self._refused(self._log_since(logged)) if status is not None else None
            if refused:  # another port would not help: say what the operator must do
                self._keep_logs = True
                raise StackError(refused)
            if status is not None and not self._fixed_port and attempt + 1 < _PORT_RETRIES:
                logger.warning("%s exited on port %d; trying another port", self.name, self.port)
                self.port = self._free_port()
                continue
            break
        self._keep_logs = True
        tail = self._proc.log_tail() if self._proc is not None else ""
        what = f"exited with status {status}" if status is not None else "did not answer"
        raise StackError(
            f"{self.name} {what} on {HOST}:{self.port} within {timeout_s:.0f}s; "
            f"see its log {self.log_path}. Last lines:\n{tail}"
        )

    def _log_since(self, offset: int) -> str:
        """What the service logged from byte ``offset`` on (its last start's output)."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _refused(self, log: str) -> str | None:
        """One line saying what to do when ``log`` (the output of a start that exited)
        shows the service refused to start for a reason a retry cannot fix; else None."""
        return None

    def _wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is None or not self._proc.running:
                return False
            if self._answers():
                return self._proc.running  # the answer came from our process, not another
            time.sleep(0.05)
        return False

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop the service (SIGTERM, then SIGKILL after ``grace_s``)."""
        if self._proc is not None:
            self._proc.stop(grace_s)

    def kill(self) -> None:
        """Kill the service with SIGKILL, as a crash would."""
        if self._proc is not None:
            self._proc.kill()

    def restart(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Stop the service if it runs, then start it again on the same port."""
        self.stop()
        self._fixed_port = True
        self.start(timeout_s)

    def _remove_owned_dir(self) -> None:
        if self._owned_dir is not None and not self._keep_logs:
            self.kill()
            shutil.rmtree(self._owned_dir, ignore_errors=True)


class RedisServer(_Service):
    """A redis-server on a loopback port; optionally append-only, persisting to ``data_dir``.

    ``kill()`` then ``restart()`` reopens the same port and data directory, which is how the
    state store's fault tests simulate a crash.

    Append-only, it runs with ``aof-load-truncated no``, as docs/operations.md asks of every
    Redis of the worker: a crash can cut the AOF inside a save's MULTI/EXEC block, and Redis
    6.2 would load the cut file and later apply part of that save (a torn stream state;
    docs/architecture.md, "Durability"). Redis then refuses the file, and ``start()`` fails
    with one line naming it and the ``redis-check-aof --fix`` command that cuts the
    incomplete transaction whole; it repairs nothing itself.
    """

    name = "redis"

    def __init__(
        self,
        port: int | None = None,
        appendonly: bool = False,
        data_dir: Path | str | None = None,
        log_dir: Path | str | None = None,
    ) -> None:
        super().__init__(port, log_dir)
        self.appendonly = appendonly
        self.data_dir = Path(data_dir) if data_dir is not None else self.log_dir / "redis-data"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{HOST}:{self.port}/0"

    def _argv(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            redis_server_bin(),
            "--port", str(self.port),
            "--bind", HOST,
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            *(["--aof-load-truncated", "no"] if self.appendonly else []),
            "--save", "",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip

    def _answers(self) -> bool:
        return redis_answers(HOST, self.port, timeout_s=1.0)

    @property
    def aof_path(self) -> Path:
        """The append-only file ``redis-check-aof --fix`` takes: Redis 6's
        ``appendonly.aof``, or Redis 7's manifest (it moves an old file into
        ``appendonlydir/`` when it starts)."""
        legacy = self.data_dir / "appendonly.aof"
        manifest = self.data_dir / "appendonlydir" / "appendonly.aof.manifest"
        return manifest if manifest.exists() or not legacy.exists() else legacy

    def aof_fix_command(self) -> str:
        """The shell command that repairs the AOF with the redis-check-aof of this
        redis-server (the same binary, run under that name, when none lies beside it)."""
        server = redis_server_bin()
        target = str(self.aof_path)
        beside = Path(server).with_name("redis-check-aof")
        if beside.is_file():
            return shlex.join([str(beside), "--fix", target])
        inner = shlex.join(["exec", "-a", "redis-check-aof", server, "--fix", target])
        return shlex.join(["bash", "-c", inner])

    def _refused(self, log: str) -> str | None:
        if not self.appendonly or "redis-check-aof" not in log:
            return None
        if "Unexpected end of file" in log:
            what = (
                "ends inside a write a crash cut short; loading it could apply part of a "
                "save and tear a stream's state"
            )
        else:
            what = f"cannot be read (see {self.log_path})"
        return (
            f"redis refused its append-only file {self.aof_path}: it {what}. Back it up, "
            f"then run `{self.aof_fix_command()}` (it cuts the incomplete transaction "
            "whole) and start again"
        )


class KafkaBroker(_Service):
    """A tansu Kafka-protocol broker with in-memory storage on a loopback port."""

    name = "kafka"

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{HOST}:{self.port}"

    def __init__(self, port: int | None = None, log_dir: Path | str | None = None) -> None:
        super().__init__(port, log_dir)

    def _argv(self) -> list[str]:
        url = f"tcp://{HOST}:{self.port}"
        return [
            tansu_bin(),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    def _answers(self) -> bool:
        return kafka_answers(self.bootstrap, timeout_s=1.0)


class EmbeddedStack(_StartStop):
    """A broker and a Redis started together; a context manager that always tears both down."""

    def __init__(
        self,
        log_dir: Path | str | None = None,
        redis_appendonly: bool = False,
        redis_cluster: bool = False,
    ) -> None:
        self._owned_dir: Path | None = None
        if log_dir is None:
            log_dir = self._owned_dir = Path(tempfile.mkdtemp(prefix="tcnad-stack-"))
        self.log_dir = Path(log_dir)
        self.redis_cluster = redis_cluster  # 3 masters and 3 replicas instead of one Redis
        self.redis: RedisServer | RedisClusterStack
        if redis_cluster:
            from tcnad.topology.devstack.cluster import RedisClusterStack

            self.redis = RedisClusterStack(log_dir=self.log_dir)
        else:
            self.redis = RedisServer(appendonly=redis_appendonly, log_dir=self.log_dir)
        self.kafka = KafkaBroker(log_dir=self.log_dir)
        self._failed = False

    @property
    def kafka_bootstrap(self) -> str:
        """The broker's ``host:port``."""
        return self.kafka.bootstrap

    @property
    def redis_url(self) -> str:
        """The Redis URL, ``redis://127.0.0.1:PORT/0``."""
        return self.redis.url

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start Redis, then the broker; on any failure stop whatever started."""
        try:
            self.redis.start(timeout_s)
            self.kafka.start(timeout_s)
        except BaseException:
            self._failed = True
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the broker and Redis; remove the log directory if this stack made it."""
        with contextlib.ExitStack() as stack:  # stop both even if one raises
            stack.callback(self.redis.stop)
            stack.callback(self.kafka.stop)
        if self._owned_dir is not None and not self._failed:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
