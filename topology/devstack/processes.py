"""Child processes that cannot outlive the program that started them.

Every child runs in its own session (so a terminal's Ctrl-C reaches only the parent, which
then stops the children in order), gets a parent-death signal on Linux (so even a parent
killed with SIGKILL leaves no orphan), and is registered for an ``atexit`` sweep. Stopping
signals the whole process group: first SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_LIVE: dict[int, ManagedProcess] = {}
_LIVE_LOCK = threading.Lock()


def _load_prctl() -> Callable[..., int] | None:
    """Resolve libc's prctl once, in the parent, so the forked child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _death_signal_preexec(sig: int, parent_pid: int) -> Callable[[], None]:
    """Return a preexec function that makes the child receive ``sig`` when its parent dies."""

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent_pid:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


class ManagedProcess:
    """One child process (and its process group) with a log file and a clean stop.

    ``log_path=None`` lets the child write to this process's stdout and stderr.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path | None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        death_signal: int = signal.SIGKILL,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.death_signal = death_signal
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid (also its process group id) while started, else None."""
        return self._popen.pid if self._popen is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited, else None."""
        return self._popen.poll() if self._popen is not None else None

    @property
    def running(self) -> bool:
        """True while the child has been started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        """Spawn the child. Raises OSError if the executable cannot be run."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        out: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        on_main = threading.current_thread() is threading.main_thread()
        preexec = _death_signal_preexec(self.death_signal, os.getpid()) if on_main else None
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=preexec,  # only calls prctl, resolved before the fork
            )
        except OSError:
            self._reap()
            raise
        with _LIVE_LOCK:
            _LIVE[self._popen.pid] = self
        logger.debug("started name=%s pid=%d argv=%s", self.name, self._popen.pid, self.argv)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit and return its status (raises TimeoutExpired)."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        code = self._popen.wait(timeout)
        self._reap()
        return code

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM the process group, wait up to ``grace_s``, then SIGKILL. Returns the status."""
        if self._popen is None:
            return None
        if self._popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                logger.warning("name=%s pid=%d ignored SIGTERM; killing", self.name, self.pid)
        return self.kill()

    def kill(self) -> int | None:
        """SIGKILL the process group and reap the child. Returns its exit status."""
        if self._popen is None:
            return None
        self._signal_group(signal.SIGKILL)
        code = self._popen.wait()
        self._reap()
        return code

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's process group."""
        self._signal_group(sig)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log file ('' when there is none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-16384:].decode("utf-8", "replace")
        return "\n".join(data.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def _reap(self) -> None:
        """Forget the exited child and close its log file."""
        if self._popen is not None:
            with _LIVE_LOCK:
                _LIVE.pop(self._popen.pid, None)
        if self._log is not None:
            self._log.close()
            self._log = None


def live_processes() -> list[ManagedProcess]:
    """The managed children started by this process that have not been reaped yet."""
    with _LIVE_LOCK:
        return list(_LIVE.values())


@atexit.register
def stop_all(grace_s: float = 5.0) -> None:
    """Stop every managed child still running, newest first (runs at interpreter exit)."""
    for proc in reversed(live_processes()):
        proc.stop(grace_s)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives, so `with` blocks unwind."""


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(f"received {signal.Signals(signum).name}")


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` (a KeyboardInterrupt) inside the block.

    SIGINT raises KeyboardInterrupt as usual, even where the shell that started the program
    left it ignored (background jobs). Only takes effect in the main thread; elsewhere the
    block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {
        signal.SIGTERM: _raise_terminated,
        signal.SIGHUP: _raise_terminated,
        signal.SIGINT: signal.default_int_handler,
    }
    previous = {s: signal.signal(s, h) for s, h in handlers.items()}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
