"""`tcnad up`: the embedded demo - broker, Redis, a worker, a synthetic fleet and an alert tail.

With ``--stack-only`` it starts just the broker and Redis, prints their addresses (and the
environment lines to export) and runs until Ctrl-C or SIGTERM. Every process it starts is
stopped on the way out, whatever ends the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tcnad.topology.devstack.cluster import RedisClusterStack
from tcnad.topology.devstack.processes import ManagedProcess, terminate_on_signals
from tcnad.topology.devstack.stack import EmbeddedStack, StackError, free_port
from tcnad.topology.devstack.truth import read_alerts, score_alerts

logger = logging.getLogger(__name__)

_POLL_S = 0.2
_STOP_GRACE_S = 30.0  # a worker finishes its batch and commits before it exits
_SERVING = re.compile(r"metrics and health on http://(\S+):(\d+)")
_LOG_SCAN_BYTES = 1 << 20  # the worker logs its port at start; stop looking after this much
_DESCRIPTION = """\
Start a Kafka-protocol broker (tansu) and a redis-server on free loopback ports, then a
an alert tail (its output is printed here), a worker and the synthetic fleet producer.
Ctrl-C or SIGTERM stops everything it started.

With --stack-only, start only the broker and Redis, print their addresses and the
`export TCNAD_...` lines for other commands, and wait."""


@dataclass(frozen=True)
class Child:
    """A process of the demo: its name, its argv and whether its output goes to the terminal."""

    name: str
    argv: tuple[str, ...]
    to_terminal: bool = False
    url: str = ""  # where it serves a page, printed when it starts


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "up",
        help="run the demo on an embedded broker and Redis (or just the stack)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--stack-only",
        action="store_true",
        help="start only the broker and Redis, print their addresses and wait",
    )
    p.add_argument(
        "--redis-cluster",
        action="store_true",
        help="a Redis Cluster (3 masters, 3 replicas) instead of one Redis; the worker "
        "runs with TCNAD_REDIS_CLUSTER=1",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop everything after this many seconds and exit 0 (default: run until Ctrl-C)",
    )
    p.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="where the broker, Redis, worker and producer write their logs (default: a new "
        "temporary directory, printed at start and kept)",
    )
    p.set_defaults(func=_run)


def demo_children(log_dir: Path, python: str = sys.executable) -> list[Child]:
    """The demo's processes in start order: alert tail, dashboard, worker, fleet producer.

    They stop in reverse order, so the tail still prints the alerts of the worker's last batch.
    The producer writes where it injected anomalies to ``log_dir/truth.json`` when it stops,
    the tail each alert to ``log_dir/alerts.jsonl``.
    """
    cli = (python, "-m", "tcnad.topology.cli")
    truth = str(log_dir / "truth.json")
    ui_port = free_port()
    saved = str(log_dir / "alerts.jsonl")
    return [
        Child("alerts", (*cli, "alerts", "--from-beginning", "--save", saved), to_terminal=True),
        Child(
            "ui",
            (*cli, "ui", "--from-beginning", "--port", str(ui_port)),
            url=f"http://127.0.0.1:{ui_port}/",
        ),
        Child("worker", (*cli, "worker")),
        Child("produce", (*cli, "produce", "--no-progress", "--truth", truth)),
    ]


def _run(args: argparse.Namespace) -> int:
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="tcnad-up-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    children = [] if args.stack_only else demo_children(log_dir)
    for old in ("truth.json", "alerts.jsonl") if children else ():  # a reused --log-dir's
        (log_dir / old).unlink(missing_ok=True)
    try:
        with (
            terminate_on_signals(),
            EmbeddedStack(log_dir=log_dir, redis_cluster=args.redis_cluster) as stack,
        ):
            _announce(stack, log_dir)
            code = run_children(stack, children, log_dir, args.duration)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: everything above has been stopped
        print("tcnad up: stopped", file=sys.stderr, flush=True)
        code = 0
    except StackError as exc:
        print(f"tcnad up: {exc}", file=sys.stderr, flush=True)
        return 1
    if children:
        print_summary(log_dir)
    return code


def print_summary(log_dir: Path) -> None:
    """How many injected anomalies the demo's alerts caught, missed and falsely raised,
    from ``truth.json`` and ``alerts.jsonl`` (rules: ``tcnad.topology.devstack.truth``)."""
    truth_path = log_dir / "truth.json"
    try:
        truth = json.loads(truth_path.read_text())
    except (OSError, ValueError) as exc:
        print(f"summary: none, {truth_path} is unreadable ({exc})", flush=True)
        return
    card = score_alerts(truth, read_alerts(log_dir / "alerts.jsonl"))
    print("\n".join(card.lines()))
    print(f"logs, truth.json and alerts.jsonl in {log_dir}", flush=True)


def _announce(stack: EmbeddedStack, log_dir: Path) -> None:
    print(f"kafka  {stack.kafka_bootstrap}  pid={stack.kafka.pid}")
    pid = stack.redis.pids if isinstance(stack.redis, RedisClusterStack) else stack.redis.pid
    print(f"redis  {stack.redis_url}  pid={pid}")
    print(f"logs   {log_dir}")
    print(f"export TCNAD_KAFKA_BOOTSTRAP={stack.kafka_bootstrap}")
    if stack.redis_cluster:
        print("export TCNAD_REDIS_CLUSTER=1")
    print(f"export TCNAD_REDIS_URL={stack.redis_url}", flush=True)


def child_env(stack: EmbeddedStack) -> dict[str, str]:
    """This process's environment with the stack's addresses set for tcnad commands."""
    env = dict(os.environ)
    env["TCNAD_KAFKA_BOOTSTRAP"] = stack.kafka_bootstrap
    env["TCNAD_REDIS_URL"] = stack.redis_url
    if stack.redis_cluster:
        env["TCNAD_REDIS_CLUSTER"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TCNAD_METRICS_PORT", "0")  # any free port: the demo must not clash
    env.setdefault("TCNAD_SCORES_TOPIC", "scores")  # every reading's band, for the dashboard
    # The demo's fleet injects an anomaly every 150-400 readings on half of its streams: the
    # setting docs/scoring.md advises for streams with frequent anomalies.
    env.setdefault("TCNAD_ALERT_HISTORY_WEIGHT", "0.01")
    return env


def create_demo_topics(stack: EmbeddedStack) -> None:
    """Create the readings, alerts and dead-letter topics with the configured partitions
    (the TCNAD_ variables the children read too, through ``Settings``)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from tcnad.topology.settings import Settings

    s = Settings()
    names = {topic: s.partitions for topic in (s.readings_topic, s.alerts_topic, s.dlq_topic)}

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(n, p, 1) for n, p in names.items()])
        finally:
            await admin.close()

    asyncio.run(create())


def run_children(
    stack: EmbeddedStack, children: Sequence[Child], log_dir: Path, duration: float | None
) -> int:
    """Start ``children`` against ``stack``, supervise them until ``duration`` or a signal.

    Returns 0 when the run ends by duration (or, with no children, never returns before a
    signal or the duration); 1 when a child exits on its own with a non-zero status.
    Children are stopped in reverse start order in every case.
    """
    env = child_env(stack)
    if children:
        create_demo_topics(stack)
    procs: list[ManagedProcess] = []
    urls: list[_ServingUrl] = []
    try:
        for child in children:
            log = None if child.to_terminal else log_dir / f"{child.name}.log"
            if log is not None and child.name.startswith("worker"):
                urls.append(_ServingUrl(child.name, log))  # before it starts: its lines only
            proc = ManagedProcess(child.name, child.argv, log, env=env)
            proc.start()
            procs.append(proc)
            print(f"{child.name:<6} {log or '(output below)'}  pid={proc.pid}", flush=True)
            if child.url:
                print(f"{child.name:<6} {child.url}  (open it in a browser)", flush=True)
        return _supervise(procs, duration, urls)
    finally:
        for proc in reversed(procs):
            proc.stop(grace_s=_STOP_GRACE_S)


class _ServingUrl:
    """Prints a worker's /metrics and /health URLs once its log names the port it serves
    (looking only past what the log held before, as a log file is appended to)."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name, self.log_path, self.done = name, log_path, False
        self.offset = log_path.stat().st_size if log_path.exists() else 0

    def poll(self) -> None:
        if self.done:
            return
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self.offset)
                head = fh.read(_LOG_SCAN_BYTES).decode("utf-8", "replace")
        except OSError:
            return
        m = _SERVING.search(head)
        if m is None:
            self.done = len(head) >= _LOG_SCAN_BYTES  # metrics off, or logged elsewhere
            return
        host = "127.0.0.1" if m.group(1) in ("0.0.0.0", "[::]", "::") else m.group(1)
        base = f"http://{host}:{m.group(2)}"
        print(
            f"{self.name:<6} metrics {base}/metrics  health {base}/health  log {self.log_path}",
            flush=True,
        )
        self.done = True


def _supervise(
    procs: Sequence[ManagedProcess], duration: float | None, urls: Sequence[_ServingUrl] = ()
) -> int:
    deadline = None if duration is None else time.monotonic() + duration
    while deadline is None or time.monotonic() < deadline:
        for url in urls:
            url.poll()
        for proc in procs:
            code = proc.returncode
            if code is not None and code != 0:
                tail = proc.log_tail() or "(its output went to the terminal)"
                print(
                    f"tcnad up: {proc.name} exited with status {code}; last lines of "
                    f"{proc.log_path or 'its output'}:\n{tail}",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        time.sleep(_POLL_S)
    return 0
