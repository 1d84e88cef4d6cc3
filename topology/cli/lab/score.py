"""`tcnad score`: run the detector offline over ``timestamp,value`` series files.

Every reading goes through ``Detector.step`` exactly as in the worker (no Kafka or Redis),
all files batched together with one pool slot each. Files are read by
``tcnad.detector.lab.tables.read_table`` (its rules: ISO or epoch timestamps, a sniffed
delimiter, rows in time order, a bad row named by file and line). Per input file it writes
``OUT/<file>`` with ``timestamp,value,anomaly_score,lower,median,upper,alert``; with
``--nab-layout`` it writes the Numenta Anomaly Benchmark's results layout instead,
``OUT/<detector>/<category>/<detector>_<file>.csv`` with ``timestamp,value,anomaly_score,label``
(the label comes from the benchmark's windows and never reaches the detector), reading the
files row for row as the benchmark does.
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
from tcnad.detector.lab.series import format_times, series_of
from tcnad.detector.lab.tables import read_table
from tcnad.topology.cli.options import (
    add_model_args,
    add_skip_bad_rows,
    load_engine,
    report_skipped,
    score_all,
    set_threads,
)

log = logging.getLogger(__name__)


DESCRIPTION = """Score series files offline with the detector, as the worker would.

Each file has a timestamp column (ISO 8601, or epoch seconds or milliseconds: one kind per
file) and one value column; comma, semicolon or tab separated; rows in time order. For
each input file, OUT/<file> gets timestamp,value,anomaly_score,lower,median,upper,alert
(files found in a directory keep their path below it). With --nab-layout, OUT gets NAB's
results layout instead and rows are read as NAB gives them (its files repeat some
timestamps). A bad row stops with FILE:LINE: reason and exit code 1, unless
--skip-bad-rows."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "score",
        help="score CSV series offline with the detector",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs", nargs="+", type=Path, help=".csv or .parquet files, or directories of them"
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="output directory: DIR/<file> per input file (or NAB's layout, --nab-layout)",
    )
    add_model_args(p)
    add_skip_bad_rows(p)
    p.add_argument(
        "--nab-layout",
        action="store_true",
        help="write NAB's results layout, DIR/<detector>/<category>/<detector>_<file>.csv",
    )
    p.add_argument(
        "--detector-name",
        default="tcnad",
        help="the detector's name in NAB's layout (default: %(default)s)",
    )
    p.add_argument(
        "--windows",
        type=Path,
        default=None,
        help="NAB combined_windows.json for the label column (default: labels/ beside data/)",
    )
    p.set_defaults(func=_run)


def collect_inputs(inputs: Sequence[Path]) -> list[tuple[Path, str]]:
    """(path, key) per .csv or .parquet file; key is the path below a given directory, or
    the file's name."""
    found: list[tuple[Path, str]] = []
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.suffix in (".csv", ".parquet"))
            found.extend((p, p.relative_to(item).as_posix()) for p in files)
        elif item.is_file():
            found.append((item, item.name))
        else:
            raise DetectorError(f"input {item} does not exist")
    if not found:
        raise DetectorError("no .csv or .parquet files found in the inputs")
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
        tables = [
            read_table(
                path,
                n_values=1,
                wanted="tcnad score scores one value per reading",
                skip_bad_rows=args.skip_bad_rows,
                in_order=not args.nab_layout,
            )
            for path, _ in files
        ]
        series = [series_of(t, key) for t, (_, key) in zip(tables, files, strict=True)]
        report_skipped("tcnad score", tables)
        capacity = min(len(series), 4096)
        engine = load_engine(args.model, args.device, capacity)
        inputs = getattr(getattr(engine, "spec", None), "n_inputs", 1)
        if inputs != 1:
            raise DetectorError(
                f"the model takes {inputs} values per reading; tcnad score scores "
                "single-input models"
            )
        scored = score_all(engine, series, capacity)
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
                write_scored((args.out / key).with_suffix(".csv"), result)
    except DetectorError as exc:
        print(f"tcnad score: {exc}", file=sys.stderr)
        return 1
    alerts = sum(int(r.alert.sum()) for r in scored)
    print(f"scored {len(scored)} files, {sum(len(s) for s in series)} readings, {alerts} alerts")
    print(f"results in {args.out}")
    return 0
