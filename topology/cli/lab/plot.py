"""`tcnad plot`: draw one stream with its band, median, alerts and labelled windows.

FILE is a ``tcnad score`` output; a plain ``timestamp,value`` CSV is scored first with the
model (``--model``). ``--labels`` adds anomaly windows from a NAB ``combined_windows.json``
(without a path: the one in ``labels/`` beside the file's ``data/`` directory).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import fields
from pathlib import Path

from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.nab import load_windows, window_rows, windows_path
from tcnad.detector.lab.offline import Scored
from tcnad.detector.lab.plot import Trace, plot_trace, read_trace
from tcnad.detector.lab.series import series_of
from tcnad.detector.lab.tables import read_table
from tcnad.topology.cli.options import (
    add_model_args,
    add_skip_bad_rows,
    load_engine,
    report_skipped,
    score_all,
    set_threads,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "plot",
        help="plot a stream with its band, alerts and label windows",
        description="Draw one stream: its readings, the forecast band and median, the alert "
        "threshold, alerts and labelled windows, with the anomaly score below. FILE is a tcnad "
        "score output, or a series file (read as tcnad score reads it) to score first.",
    )
    p.add_argument("file", type=Path, help="a tcnad score output, or a timestamp,value file")
    p.add_argument("--png", required=True, type=Path, metavar="FILE", help="the PNG to write")
    p.add_argument(
        "--labels",
        nargs="?",
        const="auto",
        default=None,
        help="NAB combined_windows.json; no value: find it beside the data (default: no labels)",
    )
    p.add_argument("--title", default=None, help="title (default: the file's name)")
    p.add_argument(
        "--rows",
        default=None,
        help="only rows START:END, a Python slice such as 2000:4000 (default: all rows)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="the alert threshold drawn on the score panel (default: the alert_score of the "
        "model's alert policy)",
    )
    add_model_args(p)
    add_skip_bad_rows(p)
    p.set_defaults(func=_run)


def _is_scored(path: Path) -> bool:
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    return "anomaly_score" in header and "lower" in header


def _trace_of(scored: Scored) -> Trace:
    return Trace(
        timestamps=scored.series.timestamps,
        value=scored.series.values,
        score=scored.score,
        lower=scored.lower,
        median=scored.median,
        upper=scored.upper,
        alert=scored.alert,
    )


def load_trace(path: Path, model: str, device: str, skip_bad_rows: bool = False) -> Trace:
    """Read a scored CSV, or score a series file with the detector."""
    if _is_scored(path):
        return read_trace(path)
    wanted = "tcnad plot draws one value per reading"
    table = read_table(path, n_values=1, wanted=wanted, skip_bad_rows=skip_bad_rows)
    report_skipped("tcnad plot", [table])
    series = series_of(table, path.name)
    return _trace_of(score_all(load_engine(model, device, 1), [series], 1)[0])


def find_windows(path: Path, labels: str) -> list[tuple[str, str]]:
    """The windows whose key matches the file (``category/name.csv`` or just the name)."""
    if labels == "auto":
        roots = [r for r in path.resolve().parents if windows_path(r).is_file()]
        if not roots:
            raise DetectorError(f"no labels/combined_windows.json above {path}; pass --labels")
        table = load_windows(windows_path(roots[0]))
    else:
        table = load_windows(Path(labels))
    name = path.name
    key = f"{path.parent.name}/{name}"
    if key in table:
        return table[key]
    matches = [k for k in table if name == Path(k).name or name.endswith("_" + Path(k).name)]
    if len(matches) != 1:
        raise DetectorError(f"{path}: {len(matches)} entries in the labels match this file")
    return table[matches[0]]


def crop(
    trace: Trace, windows: tuple[tuple[int, int], ...], rows: str
) -> tuple[Trace, tuple[tuple[int, int], ...]]:
    """Rows ``START:END`` of a trace, windows clipped to them."""
    try:
        start_text, end_text = rows.split(":")
        n = len(trace.value)
        start, end, _ = slice(int(start_text or 0), int(end_text or n)).indices(n)
    except ValueError as exc:
        raise DetectorError(f"--rows wants START:END, got {rows!r}") from exc
    cut = Trace(**{f.name: getattr(trace, f.name)[start:end] for f in fields(Trace)})
    kept = tuple(
        (max(a, start) - start, min(b, end - 1) - start)
        for a, b in windows
        if b >= start and a < end
    )
    return cut, kept


def model_threshold(model: str, device: str) -> float | None:
    """The alert score of the model's policy (None for an engine without one)."""
    policy = getattr(load_engine(model, device, 1), "policy", None)
    score = getattr(policy, "alert_score", None)
    return None if score is None else float(score)


def _run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    try:
        trace = load_trace(args.file, args.model, args.device, args.skip_bad_rows)
        windows: tuple[tuple[int, int], ...] = ()
        if args.labels is not None:
            limits = find_windows(args.file, args.labels)
            windows = window_rows(trace.timestamps, limits, str(args.file))
        if args.rows:
            trace, windows = crop(trace, windows, args.rows)
        threshold = args.threshold
        if threshold is None:
            threshold = model_threshold(args.model, args.device)
        plot_trace(
            trace, args.png, windows, title=args.title or args.file.name, threshold=threshold
        )
    except DetectorError as exc:
        print(f"tcnad plot: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.png}")
    return 0
