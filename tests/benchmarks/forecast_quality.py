"""How good the forecast is on a labelled corpus: pinball loss and band coverage.

Runs the detector over every file of a corpus in NAB's layout (as ``tcnad nab`` does,
through ``Detector.step``), records the raw quantiles pending for each reading before it
is applied, and prints, over the warm readings outside the labelled windows:

- pinball: the mean pinball loss over the model's quantile levels, in the stream's raw
  units, divided by the file's scale (the mean absolute change between consecutive
  readings; repeating the last reading as every quantile scores about 0.5, since the
  levels are symmetric about the median);
- coverage: the fraction of readings inside the calibrated band the detector scored them
  against (the band ``tcnad score`` writes), and inside the raw forecast's outer
  quantiles.

Per category, then for all files (files weigh equally in the pinball mean; readings pool
in the coverage). From the repository root::

    python -m tests.benchmarks.forecast_quality [--corpus nab|realinject | --data DIR]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcnad.detector.arrays import F64
from tcnad.detector.engine import Detector
from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import LabelledSeries, load_corpus, window_labels
from tcnad.detector.lab.offline import Scored, score_series
from tcnad.detector.result import StepResult
from tcnad.topology.cli.options import load_engine, set_threads


class Recording:
    """Wraps a Detector: keeps each slot's pending raw quantiles before every step."""

    def __init__(self, inner: Detector, lengths: Sequence[int]) -> None:
        self.inner = inner
        q = inner.spec.n_quantiles
        self.pending = [np.full((n, q), np.nan) for n in lengths]
        self.t = np.zeros(len(lengths), dtype=np.int64)

    def reset(self, slots: np.ndarray) -> None:
        self.inner.reset(slots)

    def step(self, slots: np.ndarray, values: F64, times: F64 | None = None) -> StepResult:
        pend = self.inner.pending(slots)[:, 0, :]
        for row, slot in enumerate(np.asarray(slots).tolist()):
            self.pending[slot][self.t[slot]] = pend[row]
            self.t[slot] += 1
        return self.inner.step(slots, values, times)


@dataclass(frozen=True)
class FileQuality:
    name: str
    readings: int  # warm readings outside windows with a forecast
    pinball: float  # normalised by the file's scale
    inside_band: int
    inside_raw: int


def pinball(levels: F64, quantiles: F64, values: F64) -> F64:
    """``(n,)`` mean pinball loss over levels; quantiles ``(n, Q)``, values ``(n,)``."""
    err = values[:, None] - quantiles
    loss = np.maximum(levels * err, (levels - 1.0) * err)
    out: F64 = loss.mean(axis=1)
    return out


def quality(item: LabelledSeries, scored: Scored, pending: F64, levels: F64) -> FileQuality:
    y = item.series.values
    outside = window_labels(len(y), item.windows) == 0
    keep = scored.warm & outside & np.isfinite(pending).all(axis=1)
    diffs = np.abs(np.diff(y))
    scale = float(diffs.mean()) if diffs.size and diffs.mean() > 0 else 1.0
    yk, pk = y[keep], pending[keep]
    with np.errstate(invalid="ignore"):
        band = (yk >= scored.lower[keep]) & (yk <= scored.upper[keep])
    raw = (yk >= pk[:, 0]) & (yk <= pk[:, -1])
    loss = float(pinball(levels, pk, yk).mean() / scale) if yk.size else float("nan")
    return FileQuality(item.name, int(keep.sum()), loss, int(band.sum()), int(raw.sum()))


def summary(title: str, files: Sequence[FileQuality]) -> str:
    n = sum(f.readings for f in files)
    loss = float(np.nanmean([f.pinball for f in files])) if files else float("nan")
    band = sum(f.inside_band for f in files) / n if n else float("nan")
    raw = sum(f.inside_raw for f in files) / n if n else float("nan")
    return f"  {title:<48} {len(files):>5} {n:>9} {loss:>9.3f} {band:>9.4f} {raw:>9.4f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="nab", help="a shipped corpus (default nab)")
    p.add_argument("--data", type=Path, default=None, help="a folder in NAB's layout instead")
    p.add_argument("--model", default="")
    p.add_argument("--device", default="auto")
    p.add_argument("--per-file", action="store_true", help="also one line per file")
    args = p.parse_args(argv)
    set_threads(1)
    corpus = load_corpus(args.data or corpora.unpack(args.corpus))
    series = [c.series for c in corpus]
    det = load_engine(args.model, args.device, len(series))
    levels = np.asarray(det.spec.quantiles, dtype=np.float64)
    rec = Recording(det, [len(s) for s in series])
    start = time.perf_counter()
    scored = score_series(rec, series, capacity=len(series))
    elapsed = time.perf_counter() - start
    target = det.policy.target_miss_rate
    files = [
        quality(item, got, rec.pending[k], levels)
        for k, (item, got) in enumerate(zip(corpus, scored, strict=True))
    ]
    print(
        f"{args.data or args.corpus}: {len(corpus)} files, {sum(len(s) for s in series)} "
        f"readings scored in {elapsed:.1f}s; quantile levels {levels.tolist()}"
    )
    print(
        "warm readings outside windows; pinball / mean |change|; coverage of the calibrated "
        f"band (target {1 - target:.3f}) and of the raw outer quantiles"
    )
    print(f"  {'category':<48} {'files':>5} {'readings':>9} {'pinball':>9} {'band':>9} {'raw':>9}")
    for cat in sorted({f.name.split("/")[0] for f in files}):
        print(summary(cat, [f for f in files if f.name.split("/")[0] == cat]))
    print(summary("all", files))
    if args.per_file:
        for f in files:
            print(summary(f.name, [f]))


if __name__ == "__main__":
    main()
