"""Two worker configurations in turns on one broker and one backlog: the sustained rate of
each and their ratio, measured in the same run.

``bench_pipeline.py`` starts a new broker, produces a new backlog and measures one worker;
two of its runs minutes apart on a shared 2-core host differ by up to 10-15%, more than most
changes to the worker. Here the backlog is produced once and read again by each run (a new
consumer group and a new Redis namespace each time, so every run starts from offset 0
with no state), and the runs alternate A, B, B, A, A, B, ...: each pair of neighbours
shares the host's state of that minute. Prints each run's sustained rate and its time per
reading by stage (``tcnad_batch_stage_seconds``), the ratio B/A of every ABBA block, and
their mean and range. Asserts nothing.

A configuration is worker settings (``--a-env`` / ``--b-env TCNAD_NAME=VALUE``) and the
code it runs: ``--b-pythonpath DIR`` puts ``DIR`` first on the worker's ``PYTHONPATH``
(e.g. another revision's ``detector/``, ``state/`` and ``topology/`` under
``DIR/tcnad/``, from ``git archive REV detector state topology | tar -x -C DIR/tcnad``).

    python -m tests.benchmarks.worker_ab --b-pythonpath /tmp/before [--blocks 2]
    python -m tests.benchmarks.worker_ab --b-env TCNAD_SAVE_INTERVAL_MS=2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tcnad.topology.devstack.processes import ManagedProcess
from tcnad.topology.devstack.stack import EmbeddedStack
from tcnad.topology.kafka_io import ensure_topics
from tests.benchmarks.bench_pipeline import (
    REPO,
    faust_datadir,
    free_port,
    produce_backlog,
    scrape,
    stage_costs,
    sustained_rate,
    worker_env,
)


def one_run(
    stack: EmbeddedStack,
    topic: str,
    total: int,
    partitions: int,
    settings: list[str],
    pythonpath: str | None,
    run: int,
    log_dir: Path,
) -> tuple[float, str]:
    """One worker over the whole backlog from offset 0: (sustained readings/s, stages)."""
    port = free_port()
    group = f"{topic}-ab{run}"
    env = worker_env(
        stack,
        topic,
        partitions,
        port,
        [*settings, f"TCNAD_GROUP_ID={group}", f"TCNAD_NAMESPACE={group}"],
    )
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    proc = ManagedProcess(
        f"worker-{run}",
        [sys.executable, "-m", "tcnad.topology.cli", "worker", "-l", "warn"],
        log_dir / f"worker-{run}.log",
        env,
        REPO,
    )
    proc.start()
    try:
        rate, _ = sustained_rate(port, total, proc)
        return rate, stage_costs({}, scrape(port))
    finally:
        proc.stop()
        shutil.rmtree(faust_datadir(group), ignore_errors=True)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--per-stream", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--blocks", type=int, default=2, help="ABBA blocks (4 runs each)")
    for side in ("a", "b"):
        ap.add_argument(
            f"--{side}-env",
            action="append",
            default=[],
            metavar="TCNAD_NAME=VALUE",
            help=f"a worker setting of configuration {side.upper()} (repeatable)",
        )
        ap.add_argument(
            f"--{side}-pythonpath",
            default=None,
            metavar="DIR",
            help=f"put DIR first on configuration {side.upper()}'s PYTHONPATH",
        )
    args = ap.parse_args()
    for item in args.a_env + args.b_env:
        name, sep, _ = item.partition("=")
        if not sep or not name.startswith("TCNAD_"):
            ap.error(f"--a-env / --b-env want TCNAD_NAME=VALUE, got {item!r}")
    for path in (args.a_pythonpath, args.b_pythonpath):
        if path is not None and not (Path(path) / "tcnad").is_dir():
            ap.error(f"{path} has no tcnad/ folder to import the worker from")
    return args


def main() -> None:
    args = parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="tcnad-worker-ab-"))
    configs = {
        "A": (args.a_env, args.a_pythonpath),
        "B": (args.b_env, args.b_pythonpath),
    }
    for name, (settings, path) in configs.items():
        print(f"{name}: settings {settings or 'default'}, code {path or 'this tree'}")
    order = "ABBA" * args.blocks
    rates: dict[int, float] = {}
    with EmbeddedStack(log_dir=log_dir) as stack:
        topic = f"ab-{time.time_ns()}"
        asyncio.run(ensure_topics(stack.kafka_bootstrap, {topic: args.partitions}))
        total = asyncio.run(
            produce_backlog(stack.kafka_bootstrap, topic, args.streams, args.per_stream)
        )
        print(f"produced {total} readings, {args.partitions} partitions; logs {log_dir}")
        for run, name in enumerate(order):
            settings, path = configs[name]
            rate, stages = one_run(
                stack, topic, total, args.partitions, settings, path, run, log_dir
            )
            rates[run] = rate
            print(f"run {run + 1} {name}: {rate:,.0f} readings/s; {stages}", flush=True)
    ratios = []
    for b in range(args.blocks):
        runs = range(4 * b, 4 * b + 4)  # A B B A
        a = [rates[i] for i in runs if order[i] == "A"]
        bb = [rates[i] for i in runs if order[i] == "B"]
        ratios.append((sum(bb) / len(bb)) / (sum(a) / len(a)))
        print(f"block {b + 1}: rate B/A {ratios[-1]:.3f}")
    print(
        f"rate B/A over {len(ratios)} blocks: mean {sum(ratios) / len(ratios):.3f}, "
        f"range {min(ratios):.3f}-{max(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
