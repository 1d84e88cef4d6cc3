"""`tcnad bench`: run one of the repository's benchmark scripts (tests/benchmarks/).

The scripts print numbers and assert nothing; BENCHMARKS.md lists their figures. They live
in the source checkout, not in the installed package, so run this from the repository root
(or pass ``--repo``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SUITES = {
    "detector": "bench_detector",  # streaming step vs naive, throughput, cache bytes
    "state": "bench_state",  # Redis store: bytes per reading, round trips, vs naive
    "pipeline": "bench_pipeline",  # whole worker loop: readings/s and latency
    "worker-ab": "worker_ab",  # two worker configurations in turns on one backlog
    "churn": "bench_churn",  # 100,000 streams through a hot cache that holds a tenth
    "cluster": "bench_cluster",  # Redis Cluster: round trips per node per batch
    "decode": "decode_throughput",  # wire decoding
    "prepare": "prepare_instructions",  # instructions per fetched record (callgrind)
    "produce": "produce_throughput",  # producer
    "step-thread": "step_thread",  # the detector step on a thread beside a busy loop
    "synthetic": "eval_detector_synthetic",  # detection on the synthetic corpus
    "judge": "judge",  # a scoring change against the defaults on every validation corpus
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="run a benchmark script of the source checkout")
    p.add_argument("suite", choices=sorted(SUITES), help="which benchmark")
    p.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root (default: .)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed on to the script (after SUITE)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    repo = args.repo.resolve()
    module = SUITES[args.suite]
    script = repo / "tests" / "benchmarks" / f"{module}.py"
    if not script.is_file():
        print(
            f"tcnad bench: {script} not found; run from the root of a tcnad source checkout "
            "or pass --repo",
            file=sys.stderr,
        )
        return 2
    cmd = [sys.executable, "-m", f"tests.benchmarks.{module}", *args.args]
    return subprocess.call(cmd, cwd=repo)
