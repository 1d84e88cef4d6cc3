"""Python's thread switch interval for every Python process started with this directory on
``PYTHONPATH`` and ``SWITCH_INTERVAL_S`` set (a diagnostic for the benchmarks; inert
otherwise). The worker runs faust's consumer in a thread beside the event loop; a shorter
interval makes a thread that wants the GIL wait less for the one holding it. Example
(BENCHMARKS.md, "Worker")::

    SWITCH_INTERVAL_S=0.0005 PYTHONPATH=tests/benchmarks/switchprobe \\
        .venv/bin/python tests/benchmarks/bench_pipeline.py --latency-rate 12000
"""

from __future__ import annotations

import os
import sys

if os.environ.get("SWITCH_INTERVAL_S"):
    sys.setswitchinterval(float(os.environ["SWITCH_INTERVAL_S"]))
