"""The scoring in torch on a device against the scoring in numpy on the host, over a corpus.

Scores every file of a corpus (default: realinject, real recordings shipped with the
project) with the shipped model twice, through ``Detector.step`` as the worker applies
readings: once with the scoring in numpy on the host and once in torch on ``--device``
(``score_on_device=True``), and prints how far the two lie apart: the largest difference of
the scores and of the bands (relative to the band's width), and the alerts each raised and
in how many readings they differ. Prints numbers; asserts nothing
(``tests/unit/detector/test_device_scoring.py`` asserts the tolerance).

    python -m tests.benchmarks.scoring_agreement [--corpus realinject|realheld|nab] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tcnad.detector.engine import Detector
from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import load_corpus
from tcnad.detector.lab.offline import Scored, score_series
from tcnad.detector.lab.series import Series
from tcnad.topology.cli.options import set_threads


def score(series: list[Series], device: str, on_device: bool) -> tuple[list[Scored], float]:
    det = Detector.from_checkpoint(capacity=len(series), device=device, score_on_device=on_device)
    t0 = time.perf_counter()
    out = score_series(det, series, len(series))
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", default="realinject", choices=("realinject", "realheld", "nab"))
    ap.add_argument("--device", default="cpu", help="where the torch scoring runs")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    set_threads(args.threads)
    series = [c.series for c in load_corpus(corpora.unpack(args.corpus))]
    host, t_host = score(series, args.device, False)
    dev, t_dev = score(series, args.device, True)
    d_score = max(float(np.max(np.abs(a.score - b.score))) for a, b in zip(host, dev, strict=True))
    d_band = 0.0
    for a, b in zip(host, dev, strict=True):
        width = np.maximum(a.upper - a.lower, 1e-12)
        for name in ("lower", "median", "upper"):
            gap = np.abs(getattr(a, name) - getattr(b, name)) / width
            d_band = max(d_band, float(np.nanmax(gap, initial=0.0)))
    alerts = [sum(int(s.alert.sum()) for s in side) for side in (host, dev)]
    differ = sum(int((a.alert != b.alert).sum()) for a, b in zip(host, dev, strict=True))
    readings = sum(len(s.score) for s in host)
    print(f"{args.corpus}: {len(host)} files, {readings:,} readings, torch on {args.device}")
    print(f"  largest score difference        {d_score:.3g}")
    print(f"  largest band difference (widths) {d_band:.3g}")
    print(f"  alerts: numpy {alerts[0]}, torch {alerts[1]}; readings whose alert differs {differ}")
    print(f"  seconds: numpy on the host {t_host:.1f}, torch on {args.device} {t_dev:.1f}")


if __name__ == "__main__":
    main()
