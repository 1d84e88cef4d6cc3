"""`tcnad score`: run the detector offline over ``timestamp,value`` CSV files.

Every reading goes through ``Detector.step`` exactly as in the worker (no Kafka or Redis),
all files batched together with one pool slot each. Per input CSV it writes
``timestamp,value,anomaly_score,lower,median,upper,alert``; with ``--nab-layout`` it writes
the Numenta Anomaly Benchmark's results layout instead,
``OUT/<detector>/<category>/<detector>_<file>.csv`` with ``timestamp,value,anomaly_score,label``
(the label comes from the benchmark's windows and never reaches the detector).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.nab import (
    load_windows,
    window_labels,
    window_rows,
    windows_path,
    write_results,
)
from tcnad.detector.lab.offline import Scored
from tcnad.detector.lab.series import format_times, read_series
from tcnad.topology.cli.options import add_model_args, load_engine, score_all, set_threads

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("score", help="score CSV series offline with the detector")
    p.add_argument("inputs", nargs="+", type=Path, help="CSV files or directories of them")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    add_model_args(p)
    p.add_argument("--nab-layout", action="store_true", help="write NAB's results layout")
    p.add_argument("--detector-name", default="tcnad", help="detector name in NAB's layout")
    p.add_argument(
        "--windows",
        type=Path,
        default=None,
        help="NAB combined_windows.json for the label column (default: labels/ beside data/)",
    )
    p.set_defaults(func=_run)


def collect_inputs(inputs: Sequence[Path]) -> list[tuple[Path, str]]:
    """(path, key) per CSV; key is the path below a given directory, or the file's name."""
    found: list[tuple[Path, str]] = []
    for item in inputs:
        if item.is_dir():
            found.extend((p, p.relative_to(item).as_posix()) for p in sorted(item.rglob("*.csv")))
        elif item.is_file():
            found.append((item, item.name))
        else:
            raise DetectorError(f"input {item} does not exist")
    if not found:
        raise DetectorError("no CSV files found in the inputs")
    return found


def _fmt(x: float) -> str:
    return "" if np.isnan(x) else repr(float(x))


def write_scored(path: Path, scored: Scored) -> None:
    """``timestamp,value,anomaly_score,lower,median,upper,alert`` (empty band before the first
    forecast)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    s = scored.series
    cols = zip(
        format_times(s.timestamps),
        s.values.tolist(),
        scored.score.tolist(),
        scored.lower.tolist(),
        scored.median.tolist(),
        scored.upper.tolist(),
        scored.alert.tolist(),
        strict=True,
    )
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value", "anomaly_score", "lower", "median", "upper", "alert"])
        for ts, v, sc, lo, me, up, al in cols:
            w.writerow([ts, repr(v), repr(sc), _fmt(lo), _fmt(me), _fmt(up), int(al)])


def _find_windows(inputs: Sequence[Path], given: Path | None) -> dict[str, list[tuple[str, str]]]:
    """NAB windows for labels: the given file, else labels/ beside an input data/ directory."""
    if given is not None:
        return load_windows(given)
    for item in inputs:
        for root in (item, *item.resolve().parents[:3]):
            if windows_path(root).is_file():
                return load_windows(windows_path(root))
    log.warning("no combined_windows.json found; the label column will be all 0")
    return {}


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    set_threads(args.threads)
    try:
        files = collect_inputs(args.inputs)
        series = [read_series(path, name=key) for path, key in files]
        capacity = min(len(series), 4096)
        scored = score_all(load_engine(args.model, args.device, capacity), series, capacity)
        windows = _find_windows(args.inputs, args.windows) if args.nab_layout else {}
        for (_, key), result in zip(files, scored, strict=True):
            if args.nab_layout:
                limits = windows.get(key, [])
                rows = window_rows(result.series.timestamps, limits, key)
                labels = window_labels(len(result.series), rows)
                write_results(
                    args.out, args.detector_name, key, result.series, result.score, labels
                )
            else:
                write_scored(args.out / key, result)
    except DetectorError as exc:
        print(f"tcnad score: {exc}", file=sys.stderr)
        return 1
    alerts = sum(int(r.alert.sum()) for r in scored)
    print(f"scored {len(scored)} files, {sum(len(s) for s in series)} readings, {alerts} alerts")
    print(f"results in {args.out}")
    return 0
