"""`tcnad nab`: run the Numenta Anomaly Benchmark end to end and print its scores.

Scores every corpus file causally with the detector (as ``tcnad score`` does), chooses one
global threshold per profile by sweeping, and prints NAB's three normalised scores. Also
prints the band-miss rate (readings outside the calibrated band after warm-up) on the
anomaly-free streams, against the configured target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tcnad.detector.arrays import F64
from tcnad.detector.errors import DetectorError
from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import (
    FileOutcome,
    LabelledSeries,
    ProfileResult,
    evaluate,
    file_outcome,
    load_corpus,
    write_results,
)
from tcnad.detector.lab.nab import window_labels as labels_of
from tcnad.detector.lab.offline import Scored
from tcnad.detector.lab.series import Series
from tcnad.detector.state import DEFAULT_RING_DTYPE, RING_DTYPES
from tcnad.topology.cli.options import add_model_args, load_engine, score_all, set_threads

CLEAN_CATEGORY = "artificialNoAnomaly"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("nab", help="run the NAB benchmark and print its scores")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a NAB copy, or any folder in NAB's layout (default: the --corpus shipped)",
    )
    p.add_argument(
        "--corpus",
        default="nab",
        help="a corpus shipped with tcnad, by name: nab, realinject, realheld, realfresh (see "
        "tcnad.detector.lab.corpora; --data overrides it; default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write NAB's results layout into this directory, "
        "DIR/<detector>/<category>/<detector>_<file>.csv (default: not written)",
    )
    p.add_argument(
        "--detector-name",
        default="tcnad",
        help="the detector's name in NAB's results layout (default: %(default)s)",
    )
    p.add_argument(
        "--misses", action="store_true", help="also list the windows missed, with their peaks"
    )
    p.add_argument(
        "--synthetic",
        type=int,
        default=20,
        help="clean synthetic streams scored alongside, for the band-miss check (0: none; "
        "default: %(default)s)",
    )
    p.add_argument(
        "--synthetic-seed",
        type=int,
        default=2024,
        help="their seed, not a training seed (default: %(default)s)",
    )
    p.add_argument(
        "--ring-dtype",
        choices=RING_DTYPES,
        default=os.environ.get("TCNAD_RING_DTYPE", DEFAULT_RING_DTYPE),
        help="how the detector holds its ring buffers, as the worker's TCNAD_RING_DTYPE "
        f"(default: $TCNAD_RING_DTYPE or {DEFAULT_RING_DTYPE})",
    )
    add_model_args(p)
    p.set_defaults(func=_run)


def band_miss(scored: Sequence[Scored]) -> tuple[float, int]:
    """Fraction of warm readings outside their band, and how many warm readings there were."""
    outside = sum(int((r.outside & r.warm).sum()) for r in scored)
    warm = sum(int(r.warm.sum()) for r in scored)
    return (outside / warm if warm else float("nan")), warm


def format_results(results: Sequence[ProfileResult]) -> str:
    """The scoreboard table: normalised score, threshold, raw, windows hit, false positives."""
    lines = [f"{'profile':<20} {'score':>7} {'threshold':>10} {'raw':>9} {'hit':>8} {'FP':>6}"]
    for r in results:
        lines.append(
            f"{r.profile.name:<20} {r.normalised:7.2f} {r.threshold:10.6f} {r.raw:9.3f} "
            f"{r.windows_hit:>4}/{r.n_windows:<3} {r.false_positives:6d}"
        )
    return "\n".join(lines)


NEAR = 0.1  # a missed window "near" the threshold peaks within this much below it


def outcomes(
    corpus: Sequence[LabelledSeries], scores: Sequence[F64], result: ProfileResult
) -> list[FileOutcome]:
    """Every file's outcome at one profile's chosen threshold, in corpus order."""
    return [
        file_outcome(score, item.windows, result.threshold, result.profile)
        for item, score in zip(corpus, scores, strict=True)
    ]


def category_table(
    corpus: Sequence[LabelledSeries], files: Sequence[FileOutcome], threshold: float
) -> str:
    """Per category, where a profile's raw score comes from (``files``: ``outcomes`` at
    its ``threshold``): windows hit and the mean credit of a hit, windows missed that peak
    within ``NEAR`` of the threshold, detections outside windows and their cost, and the raw
    total (the totals add up to the profile's raw score)."""
    rows: dict[str, list[float]] = {}
    for item, got in zip(corpus, files, strict=True):
        acc = rows.setdefault(item.name.split("/")[0], [0.0] * 7)
        each = list(zip(got.hits, got.credits, got.peaks, strict=True))
        acc[0] += sum(got.hits)
        acc[1] += len(each)
        acc[2] += sum(c for hit, c, _ in each if hit)
        acc[3] += sum(not hit and p >= threshold - NEAR for hit, _, p in each)
        acc[4] += got.false_positives
        acc[5] += got.fp_cost
        acc[6] += got.raw
    lines = [
        f"  {'category':<22} {'hit':>8} {'credit/hit':>10} {'near miss':>9} "
        f"{'outside':>8} {'its cost':>9} {'raw':>8}"
    ]
    total = [0.0] * 7
    for c, acc in sorted(rows.items()):
        total = [a + b for a, b in zip(total, acc, strict=True)]
        lines.append(_category_line(c, acc))
    lines.append(_category_line("all", total))
    return "\n".join(lines)


def _category_line(name: str, acc: Sequence[float]) -> str:
    hit, n, credit, near, outside, cost, raw = acc
    per_hit = f"{credit / hit:10.3f}" if hit else f"{'-':>10}"
    return (
        f"  {name:<22} {int(hit):>4}/{int(n):<3} {per_hit} {int(near):>9} "
        f"{int(outside):>8} {cost:9.2f} {raw:8.2f}"
    )


def missed_windows(corpus: Sequence[LabelledSeries], files: Sequence[FileOutcome]) -> str:
    """Every window missed (``files``: ``outcomes``), with its peak score, highest first."""
    missed = [
        (peak, item.name, first, last)
        for item, got in zip(corpus, files, strict=True)
        for (first, last), hit, peak in zip(got.windows, got.hits, got.peaks, strict=True)
        if not hit
    ]
    missed.sort(reverse=True)
    lines = [f"  {'peak':>6}  window (rows)   file"]
    lines += [f"  {p:6.3f}  {a:>6}-{b:<7}  {name}" for p, name, a, b in missed]
    return "\n".join(lines)


def clean_synthetic(count: int, seed: int, length: int = 4032) -> list[Series]:
    """Anomaly-free synthetic streams of every kind (5-minute readings)."""
    from tcnad.detector.lab.synthetic import KINDS, generate_corpus

    start = np.datetime64("2024-01-01T00:00", "us")
    times = start + np.arange(length) * np.timedelta64(5, "m")
    data = generate_corpus(count, length, seed)
    return [Series(f"{KINDS[i % len(KINDS)]}_{i}", times, x[:, 0]) for i, x in enumerate(data)]


def band_report(title: str, scored: Sequence[Scored], target: float) -> str:
    """Band-miss rate of warm readings, overall and per stream, against the target."""
    rate, warm = band_miss(scored)
    lines = [
        f"band-miss on {title}: {rate:.4f} of {warm} warm readings "
        f"(target {target:.4f}, ratio {rate / target:.2f})"
    ]
    for r in scored:
        each, n = band_miss([r])
        lines.append(f"  {r.series.name:<44} {each:.4f} ({n} warm)")
    return "\n".join(lines)


def _report(
    args: argparse.Namespace,
    corpus: list[LabelledSeries],
    scored: list[Scored],
    synthetic: list[Scored],
    target: float,
) -> None:
    results = evaluate(corpus, {c.name: r.score for c, r in zip(corpus, scored, strict=True)})
    print(format_results(results))
    print("standard profile, per category:")
    files = outcomes(corpus, [r.score for r in scored], results[0])
    print(category_table(corpus, files, results[0].threshold))
    if args.misses:
        print("standard profile, windows missed:")
        print(missed_windows(corpus, files))
    clean = [r for c, r in zip(corpus, scored, strict=True) if c.name.startswith(CLEAN_CATEGORY)]
    if clean:
        print(band_report(f"{CLEAN_CATEGORY} (NAB)", clean, target))
    if synthetic:
        print(band_report(f"clean synthetic (seed {args.synthetic_seed})", synthetic, target))
    if args.out is not None:
        for c, r in zip(corpus, scored, strict=True):
            labels = labels_of(len(r.score), c.windows)
            write_results(args.out, args.detector_name, c.name, r.series, r.score, labels)
        print(f"NAB results layout written to {args.out / args.detector_name}")


def _run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    try:
        corpus = load_corpus(args.data or corpora.unpack(args.corpus))
        synthetic = clean_synthetic(args.synthetic, args.synthetic_seed) if args.synthetic else []
        series = [item.series for item in corpus] + synthetic
        engine = load_engine(args.model, args.device, len(series), args.ring_dtype)
        start = time.perf_counter()
        scored = score_all(engine, series, len(series))
        elapsed = time.perf_counter() - start
        rows = sum(len(s) for s in series)
        print(
            f"scored {len(corpus)} NAB files and {len(synthetic)} synthetic streams, "
            f"{rows} readings, in {elapsed:.1f}s"
        )
        target = engine.policy.target_miss_rate
        _report(args, corpus, scored[: len(corpus)], scored[len(corpus) :], target)
    except (DetectorError, FileNotFoundError) as exc:
        print(f"tcnad nab: {exc}", file=sys.stderr)
        return 1
    return 0
