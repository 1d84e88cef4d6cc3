"""The demo's recall over a run: the demo's fleet scored offline, anomalies alerted by fifth.

``tcnad up`` feeds the worker ``SyntheticFleet`` streams, half of them with an injected
anomaly every 150-400 readings. This scores the same fleet with ``Detector.step`` (no
Kafka, no Redis: the same scoring) and matches its alerts with the fleet's truth as the
demo does (``topology.devstack.truth``), reporting per fifth of the run how many of the
anomalies starting there were alerted, and the false alerts::

    python -m tests.benchmarks.demo_recall [--steps 3000] [--streams 40] [--seeds 0 1 2]
        [--set history_weight=0.01]

Asserts nothing.
"""

from __future__ import annotations

import argparse

import numpy as np

from tcnad.detector import scoring
from tcnad.detector.engine import Detector
from tcnad.topology.cli.options import set_threads
from tcnad.topology.devstack.fleet import SyntheticFleet
from tcnad.topology.devstack.truth import score_alerts
from tests.benchmarks.nab_run import _policy


def run(seed: int, steps: int, streams: int, policy: scoring.AlertPolicy) -> str:
    fleet = SyntheticFleet(streams, seed, start_ts=1_700_000_000.0)
    data = fleet.block(steps)  # (steps, streams, width)
    det = Detector.from_checkpoint(None, policy=policy, capacity=streams)
    slots = np.arange(streams)
    stamps = fleet.start_ts + np.arange(steps) * fleet.interval
    alerts: list[tuple[str, float]] = []
    for t in range(steps):
        res = det.step(slots, data[t], np.full(streams, stamps[t]))
        alerts.extend((fleet.ids[i], float(stamps[t])) for i in np.flatnonzero(res.alert))
    doc = fleet.truth_document(steps)
    fifths = []
    for f in range(5):
        lo, hi = stamps[steps * f // 5], fleet.start_ts + (steps * (f + 1) // 5) * fleet.interval
        part = dict(doc)
        part["streams"] = [
            dict(s, anomalies=[a for a in s["anomalies"] if lo <= a["start_ts"] < hi])
            for s in doc["streams"]
        ]
        kinds = score_alerts(part, alerts).kinds.values()
        fifths.append(f"{sum(k.alerted for k in kinds)}/{sum(k.injected for k in kinds)}")
    false = len(score_alerts(doc, alerts).false_alerts)
    return f"seed {seed}: alerted by fifth {' '.join(fifths)}; false alerts {false}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--streams", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], help="AlertPolicy field=value")
    args = ap.parse_args()
    set_threads(1)
    policy = _policy(args.set)
    print(f"policy: {' '.join(args.set) or 'defaults'}")
    for seed in args.seeds:
        print(run(seed, args.steps, args.streams, policy), flush=True)


if __name__ == "__main__":
    main()
