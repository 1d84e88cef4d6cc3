"""How far half-precision and 8-bit rings move the forecasts from float32's, over a corpus.

Scores every series of a corpus (NAB by default) with one ``Detector`` per ring dtype, in
lockstep, and compares each forecast quantile with float32's after every reading, in units
of the stream's running standard deviation (floored, as the detector normalises: the
forecast is ``mean + std * q``, so this is the difference of the TCN's outputs). Prints
the max and mean difference per dtype, and how often a reading's "outside the band" flag
and its alert differ.

Run: .venv/bin/python -m tests.benchmarks.ring_dtype_error [--corpus nab] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tcnad.detector import normalize
from tcnad.detector.engine import Detector
from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import load_corpus
from tcnad.detector.lab.series import epoch_seconds

DTYPES = ("float32", "float16", "bfloat16", "float8_e5m2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="nab")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    series = [item.series for item in load_corpus(corpora.unpack(args.corpus))]
    n = len(series)
    dets = {
        d: Detector.from_checkpoint(None, device="cpu", capacity=n, ring_dtype=d) for d in DTYPES
    }
    lengths = np.array([len(s) for s in series])
    horizon = int(lengths.max())
    values, stamps = np.zeros((n, horizon)), np.full((n, horizon), np.nan)
    for k, s in enumerate(series):
        values[k, : lengths[k]] = s.values
        stamps[k, : lengths[k]] = epoch_seconds(s.timestamps)
    ref_det = dets["float32"]
    norm_end = normalize.norm_size(ref_det.spec.n_inputs)
    worst = {d: 0.0 for d in DTYPES[1:]}
    total = {d: 0.0 for d in DTYPES[1:]}
    flips = {d: [0, 0] for d in DTYPES[1:]}  # outside, alert
    count = 0
    for det in dets.values():
        det.reset(np.arange(n))
    start = time.perf_counter()
    for t in range(horizon):
        idx = np.flatnonzero(lengths > t)
        res = {d: det.step(idx, values[idx, t : t + 1], stamps[idx, t]) for d, det in dets.items()}
        ref = ref_det.pending(idx)
        ok = np.isfinite(ref)
        std = normalize.running_std(ref_det.spec, ref_det._stats[idx, :norm_end])
        for d in DTYPES[1:]:
            diff = np.abs(dets[d].pending(idx) - ref) / std[:, :, None]
            worst[d] = max(worst[d], float(diff[ok].max(initial=0.0)))
            total[d] += float(diff[ok].sum())
            a, b = res["float32"], res[d]
            flips[d][0] += int((np.asarray(a.outside) != np.asarray(b.outside)).sum())
            flips[d][1] += int((np.asarray(a.alert) != np.asarray(b.alert)).sum())
        count += int(ok.sum())
    readings = int(lengths.sum())
    print(
        f"{args.corpus}: {n} series, {readings} readings, {count} forecast quantiles compared, "
        f"{time.perf_counter() - start:.0f} s"
    )
    for d in DTYPES[1:]:
        print(
            f"{d}: forecast quantile - float32's, in running standard deviations: "
            f"max {worst[d]:.2e}, mean {total[d] / count:.2e}; readings whose outside-band "
            f"flag differs {flips[d][0]}, whose alert differs {flips[d][1]} (of {readings})"
        )


if __name__ == "__main__":
    main()
