"""``Detector.step`` of this tree against the same of an earlier revision, in one process.

Timings of two runs minutes apart on a shared host differ by more than most changes to the
step, so both engines are loaded into one process and timed in turns: the revision's
``detector`` package is exported with ``git archive`` into a temporary folder under the
name ``tcnad_rev`` (its ``tcnad.`` imports renamed), each engine steps the same streams
past warm-up, and then each is timed alternately, the best of ``--rounds`` turns kept.
Prints readings per second and the ratio of the times (this tree over the revision); asserts
nothing.

    python -m tests.benchmarks.engine_ab --rev 89500e5 [--threads 1] [--batches 1024,8192]
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tcnad.detector.engine import Detector
from tcnad.detector.state import RING_DTYPES

ROOT = Path(__file__).resolve().parents[2]
NAME = "tcnad_rev"


def export(rev: str, dest: Path) -> None:
    """The revision's ``detector`` package as ``dest/tcnad_rev/detector``."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "detector"],
        check=True,
        capture_output=True,
    ).stdout
    pkg = dest / NAME
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(pkg, filter="data")
    (pkg / "__init__.py").write_text("")
    for path in pkg.rglob("*.py"):
        path.write_text(re.sub(r"\btcnad\.", f"{NAME}.", path.read_text()))


def best_times(dets: dict[str, object], batch: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    slots, times = np.arange(batch), np.full(batch, 1.6e9)
    for i in range(250):  # past warm-up, so that every part of the score is live
        vals = rng.normal(size=(batch, 1))
        for d in dets.values():
            d.step(slots, vals, times + 600.0 * i)  # type: ignore[attr-defined]
    vals = rng.normal(size=(batch, 1))
    best = dict.fromkeys(dets, float("inf"))
    for r in range(rounds):
        order = list(dets) if r % 2 == 0 else list(reversed(dets))
        for key in order:
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 0.5:
                dets[key].step(slots, vals, times)  # type: ignore[attr-defined]
                n += 1
            best[key] = min(best[key], (time.perf_counter() - t0) / n)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rev", required=True, help="the earlier revision (a commit or tag)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", default="1024,8192")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument(
        "--ring-dtype",
        choices=RING_DTYPES,
        default="float32",
        help="this tree's rings (default float32, the default of revisions before float16's)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        export(args.rev, Path(tmp))
        sys.path.insert(0, tmp)
        old = importlib.import_module(f"{NAME}.detector.engine").Detector
        print(f"torch {torch.__version__}, threads {args.threads}, against {args.rev}")
        for batch in (int(b) for b in args.batches.split(",")):
            dets = {
                "this": Detector.from_checkpoint(
                    capacity=batch, device="cpu", ring_dtype=args.ring_dtype
                ),
                "rev": old.from_checkpoint(capacity=batch, device="cpu"),
            }
            best = best_times(dets, batch, args.rounds)
            print(
                f"  B={batch:5d}  this tree {batch / best['this']:10,.0f} readings/s   "
                f"{args.rev} {batch / best['rev']:10,.0f} readings/s   "
                f"time ratio {best['this'] / best['rev']:.3f}"
            )


if __name__ == "__main__":
    main()
