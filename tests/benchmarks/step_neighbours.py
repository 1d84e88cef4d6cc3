"""What a busy neighbour on the other core does to ``Detector.step``.

In the worker the step costs more per reading than in a process of its own on the same host
(BENCHMARKS.md, "Worker / pipeline"), while Redis, the broker and faust's consumer thread
share the machine's cores. This script times ``Detector.step`` (CPU, one torch thread, the
shipped model, ``--streams`` warm streams spread over a pool of four times as many slots,
readings with times) in one process, in turns:

- alone;
- beside a process that runs pure Python (CPU-bound, little memory traffic);
- beside a process that copies a 64 MB array over and over (memory-bound, as a save's
  tens of MB of rows and Redis applying them are).

Each neighbour is a child process started for its turn and ended by its PID after it.
Prints the step's time per reading in each turn and each neighbour's ratio to the turns
alone. Asserts nothing.

Run:  python -m tests.benchmarks.step_neighbours [--streams 1000] [--blocks 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch

from tcnad.detector.engine import Detector

NEIGHBOURS = {
    "python": "while True:\n    sum(range(10000))\n",
    "memory": (
        "import numpy as np\n"
        "a = np.random.rand(8_000_000)\n"
        "b = np.empty_like(a)\n"
        "while True:\n"
        "    np.copyto(b, a)\n"
    ),
}


def step_time(det: Detector, slots: np.ndarray, clock: list[float], calls: int) -> float:
    """Seconds per reading of ``calls`` steps of ``slots`` (random readings)."""
    rng = np.random.default_rng(len(clock))
    values = rng.normal(size=(calls, slots.size, 1))
    start = time.perf_counter()
    for k in range(calls):
        clock[0] += 300.0
        det.step(slots, values[k], np.full(slots.size, clock[0]))
    return (time.perf_counter() - start) / (calls * slots.size)


def beside(kind: str | None, det: Detector, slots: np.ndarray, clock: list[float]) -> float:
    """The step's time per reading with neighbour ``kind`` running (None: alone)."""
    proc = None
    if kind is not None:
        proc = subprocess.Popen([sys.executable, "-c", NEIGHBOURS[kind]])
        time.sleep(1.0)  # started and at work
    try:
        return step_time(det, slots, clock, 60)
    finally:
        if proc is not None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--blocks", type=int, default=2, help="turns of alone, python, memory, alone")
    args = ap.parse_args()
    torch.set_num_threads(1)
    det = Detector.from_checkpoint(None, device="cpu", capacity=4 * args.streams)
    rng = np.random.default_rng(3)
    slots = np.sort(rng.choice(4 * args.streams, args.streams, replace=False))
    det.reset(slots)
    clock = [1.6e9]
    step_time(det, slots, clock, 250)  # past the scoring's warm-up
    print(f"Detector.step of {args.streams} streams, one torch thread, {os.cpu_count()} cores")
    got: dict[str, list[float]] = {"alone": [], "python": [], "memory": []}
    for _ in range(args.blocks):
        for kind in (None, "python", "memory", None):
            t = beside(kind, det, slots, clock)
            got[kind or "alone"].append(t)
            print(f"  {kind or 'alone':7s} {t * 1e6:6.2f} us per reading")
    alone = float(np.mean(got["alone"]))
    for kind in ("python", "memory"):
        ratio = float(np.mean(got[kind])) / alone
        print(f"beside a {kind}-bound process: {ratio:.2f}x the time alone")


if __name__ == "__main__":
    main()
