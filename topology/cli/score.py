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
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.nab import load_windows, window_labels, window_rows, windows_path
from tcnad.detector.lab.offline import Scored, score_series
from tcnad.detector.lab.series import Series, format_times, read_series

if TYPE_CHECKING:
    from tcnad.detector.engine import Detector, StreamDetector

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


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model and --device, defaulting to TCNAD_MODEL and TCNAD_DEVICE."""
    p.add_argument(
        "--model",
        default=os.environ.get("TCNAD_MODEL", ""),
        help="checkpoint path (default: $TCNAD_MODEL, else the shipped model)",
    )
    p.add_argument(
        "--device",
        default=os.environ.get("TCNAD_DEVICE", "auto"),
        help="auto, cpu, cuda, ... (default: $TCNAD_DEVICE or auto)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: batches of a few dozen streams run fastest "
        "on one thread; 0 keeps torch's default)",
    )


def set_threads(threads: int) -> None:
    """Apply --threads (0: leave torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def load_engine(model: str, device: str, capacity: int) -> Detector:
    """The worker's Detector with a pool of ``capacity`` slots."""
    from tcnad.detector.engine import Detector

    return Detector.from_checkpoint(
        model or None, device=None if device == "auto" else device, capacity=capacity
    )


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


def score_all(engine: StreamDetector, series: Sequence[Series], capacity: int) -> list[Scored]:
    """Score with a progress bar on stderr counting readings."""
    total = sum(len(s) for s in series)
    bar = tqdm(
        total=total, unit="rd", unit_scale=True, desc="scoring", file=sys.stderr, mininterval=1.0
    )
    with bar:
        return score_series(engine, series, capacity, on_step=bar.update)


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


def write_nab(out: Path, detector: str, key: str, scored: Scored, labels: np.ndarray) -> Path:
    """NAB's results file for one data file ``category/name.csv``."""
    category, name = Path(key).parent.name, Path(key).name
    path = out / detector / category / f"{detector}_{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    s = scored.series
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value", "anomaly_score", "label"])
        times, values, scores = format_times(s.timestamps), s.values.tolist(), scored.score.tolist()
        for ts, v, sc, lab in zip(times, values, scores, labels.tolist(), strict=True):
            w.writerow([ts, repr(v), repr(sc), int(lab)])
    return path


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
                write_nab(args.out, args.detector_name, key, result, labels)
            else:
                write_scored(args.out / key, result)
    except DetectorError as exc:
        print(f"tcnad score: {exc}", file=sys.stderr)
        return 1
    alerts = sum(int(r.alert.sum()) for r in scored)
    print(f"scored {len(scored)} files, {sum(len(s) for s in series)} readings, {alerts} alerts")
    print(f"results in {args.out}")
    return 0
