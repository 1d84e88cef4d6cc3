"""Why the worker steps the detector on its event loop rather than on a thread of its own.

A thread would let the event loop fetch and decode the next batch while the detector steps
the current one, if the step released the GIL for its whole length. It does not: a step is
a series of short torch and numpy calls, each of which gives the GIL up and must take it
back, and a thread that wants the GIL back while another thread runs Python waits for that
thread's switch interval (5 ms by default) each time. This script times ``Detector.step``
(CPU, one torch thread, the shipped model) on a thread of its own while the main thread runs
Python, the way a busy event loop would:

- alone (no other thread);
- beside a thread that runs Python for ``busy`` of the time and sleeps for the rest, in 1 ms
  cycles, at several switch intervals (``sys.setswitchinterval``).

It prints the step's time in each case and what the Python thread got done, relative to
running alone. Asserts nothing.

Run:  python tests/benchmarks/step_thread.py [--streams 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tcnad.detector.engine import Detector


def python_load(stop: threading.Event, busy: float, done: list[int]) -> None:
    """Pure-Python work for ``busy`` of each 1 ms cycle, asleep for the rest."""
    n = 0
    while not stop.is_set():
        end = time.perf_counter() + 1e-3 * busy
        while time.perf_counter() < end:
            for _ in range(100):
                n += 1
        if busy < 1.0:
            time.sleep(1e-3 * (1.0 - busy))
    done.append(n)


def load_rate(busy: float, seconds: float) -> float:
    """Iterations per second of ``python_load`` with no other thread."""
    stop, done = threading.Event(), []
    t = threading.Thread(target=python_load, args=(stop, busy, done))
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    return done[0] / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="detector.step calls per batch")
    ap.add_argument("--batches", type=int, default=10)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    det = Detector.from_checkpoint(None, device="cpu", capacity=args.streams)
    slots = np.arange(args.streams, dtype=np.int64)
    det.reset(slots)
    rng = np.random.default_rng(0)
    values = rng.normal(10.0, 1.0, (args.rounds, args.streams, 1))

    def batch() -> None:
        for r in range(args.rounds):
            det.step(slots, values[r])

    for _ in range(3):
        batch()
    t0 = time.perf_counter()
    for _ in range(args.batches):
        batch()
    alone = (time.perf_counter() - t0) / args.batches
    print(
        f"one batch ({args.rounds} x Detector.step of {args.streams} streams), alone: "
        f"{alone * 1e3:.1f} ms"
    )
    default_interval = sys.getswitchinterval()
    for busy in (1.0, 0.5):
        for interval in (default_interval, 5e-4, 1e-4):
            sys.setswitchinterval(interval)
            base = load_rate(busy, max(0.2, 5 * alone))
            stop, done = threading.Event(), []
            loader = threading.Thread(target=python_load, args=(stop, busy, done))
            loader.start()
            stepper = threading.Thread(target=lambda: [batch() for _ in range(args.batches)])
            t0 = time.perf_counter()
            stepper.start()
            stepper.join()
            took = time.perf_counter() - t0
            stop.set()
            loader.join()
            print(
                f"on a thread beside Python busy {busy:.0%} of the time, switch interval "
                f"{interval * 1e3:g} ms: {took / args.batches * 1e3:.1f} ms per batch "
                f"({took / args.batches / alone:.1f}x alone); the Python thread got "
                f"{done[0] / took / base:.2f} of its work done alone"
            )
    sys.setswitchinterval(default_interval)


if __name__ == "__main__":
    main()
