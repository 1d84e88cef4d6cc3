"""Garbage-collector pauses of every Python process started with this directory on
``PYTHONPATH`` and ``GC_PROBE_DIR`` set (a diagnostic for the benchmarks; inert otherwise).

Each process writes ``$GC_PROBE_DIR/gc-<pid>.txt`` at exit: its command line, per
generation the number of collections, their total, median and longest pause, and every
pause over 10 ms with its time since start. Example (BENCHMARKS.md, "Worker")::

    GC_PROBE_DIR=/tmp/gc PYTHONPATH=tests/benchmarks/gcprobe \\
        .venv/bin/python tests/benchmarks/bench_pipeline.py --latency-rate 25000
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import time
from typing import Any

_DIR = os.environ.get("GC_PROBE_DIR")

if _DIR:
    _T0 = time.monotonic()
    _started: list[float] = [0.0]
    _pauses: list[tuple[int, float, float]] = []  # generation, seconds, at (s since start)

    def _on_gc(phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            _started[0] = now
        else:
            _pauses.append((info["generation"], now - _started[0], time.monotonic() - _T0))

    def _write() -> None:
        lines = [" ".join(sys.argv)]
        for g in (0, 1, 2):
            ps = sorted(p for gen, p, _ in _pauses if gen == g)
            if ps:
                lines.append(
                    f"gen{g} n={len(ps)} total={sum(ps) * 1e3:.1f}ms "
                    f"median={ps[len(ps) // 2] * 1e3:.2f}ms max={ps[-1] * 1e3:.1f}ms"
                )
        lines += [
            f"  pause at {at:.1f}s gen{g} {p * 1e3:.1f}ms" for g, p, at in _pauses if p > 0.01
        ]
        with open(os.path.join(_DIR, f"gc-{os.getpid()}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")

    gc.callbacks.append(_on_gc)
    atexit.register(_write)
