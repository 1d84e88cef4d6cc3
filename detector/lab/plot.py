"""The operator's picture of one stream: readings, forecast band, median, alerts, windows.

Top panel: the series, the quantile band each reading was scored against, its median, the
readings that raised an alert, and labelled anomaly windows when given. Bottom panel: the
anomaly score in [0, 1] and the alert threshold. A long stream is drawn as a min/max
envelope per column of rows, so its band stays visible. Rendered off-screen with
matplotlib's Agg canvas (no display, no pyplot state).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F64
from tcnad.detector.errors import DetectorError
from tcnad.detector.lab.series import parse_times

SCORED_COLUMNS = ("timestamp", "value", "anomaly_score", "lower", "median", "upper", "alert")


@dataclass(frozen=True)
class Trace:
    """One scored stream, all ``(n,)``: what ``tcnad score`` writes."""

    timestamps: npt.NDArray[np.datetime64]
    value: F64
    score: F64
    lower: F64
    median: F64
    upper: F64
    alert: npt.NDArray[np.bool_]


def _num(text: str) -> float:
    return float(text) if text else float("nan")


def read_trace(path: Path) -> Trace:
    """Read a ``tcnad score`` output CSV; a clear error if columns are missing."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in SCORED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DetectorError(f"{path}: not a scored CSV, missing columns {missing}")
        rows = list(reader)
    cols = {c: np.array([_num(r[c]) for r in rows]) for c in SCORED_COLUMNS[1:]}
    return Trace(
        timestamps=parse_times([r["timestamp"] for r in rows], str(path)),
        value=cols["value"],
        score=cols["anomaly_score"],
        lower=cols["lower"],
        median=cols["median"],
        upper=cols["upper"],
        alert=cols["alert"] > 0.5,
    )


COLUMNS = 1200  # at most this many columns of data across the plot (about one per pixel)
BAND, WINDOW, ALERT, THRESHOLD = "#4c8bd6", "#2ca02c", "#d62728", "#d62728"


def envelope(n: int, columns: int = COLUMNS) -> npt.NDArray[np.int64]:
    """Start rows of the column bins of an ``n``-row trace: every row its own column while
    ``n <= 2 * columns``, else ``columns`` equal runs of rows."""
    if n <= 2 * columns:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n, columns, endpoint=False).astype(np.int64))


def _lo_hi(x: F64, starts: npt.NDArray[np.int64]) -> tuple[F64, F64]:
    """Per bin min and max of ``x``, NaN only where a bin is all NaN."""
    with np.errstate(invalid="ignore"):
        return np.fmin.reduceat(x, starts), np.fmax.reduceat(x, starts)


def plot_trace(
    trace: Trace,
    out: Path,
    windows: Sequence[tuple[int, int]] = (),
    title: str = "",
    threshold: float | None = None,
) -> None:
    """Write a PNG of ``trace``; ``windows`` are inclusive row ranges of labelled anomalies,
    ``threshold`` the alert score (a dashed line on the score panel).

    A long trace is drawn as a min/max envelope per column of rows (``envelope``), so the
    band and the readings' range stay visible at any length; alerts are drawn one by one.
    Band (blue), label windows (green, full height on the score panel and as a strip along
    the top of the readings panel, so they never tint the band) and alerts (red) keep
    distinct colours."""
    n = len(trace.value)
    t = trace.timestamps.astype("datetime64[ms]").astype(object)
    starts = envelope(n)
    x = np.asarray(t)[starts] if n else np.asarray(t)
    binned = len(starts) < n
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # slow to import: only here
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 6))
    FigureCanvasAgg(fig)  # render off-screen, independent of any pyplot backend
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for k, (first, last) in enumerate(windows):
        label = "labelled window" if k == 0 else None
        bottom.axvspan(t[first], t[last], color=WINDOW, alpha=0.25, lw=0)
        top.axvspan(t[first], t[last], ymin=0.97, ymax=1.0, color=WINDOW, lw=0, label=label)
    if n:
        lower, _ = _lo_hi(trace.lower, starts)
        _, upper = _lo_hi(trace.upper, starts)
        v_lo, v_hi = _lo_hi(trace.value, starts)
        s_lo, s_hi = _lo_hi(trace.score, starts)
        top.fill_between(
            x, lower, upper, color=BAND, alpha=0.35, lw=0, label="forecast band", step="post"
        )
        top.plot(
            x, trace.median[starts], color=BAND, lw=0.7, label="median", drawstyle="steps-post"
        )
        if binned:
            top.fill_between(
                x, v_lo, v_hi, color="black", lw=0.4, step="post", label="reading (min..max)"
            )
            bottom.fill_between(x, s_lo, s_hi, color="tab:purple", lw=0.4, step="post")
        else:
            top.plot(t, trace.value, color="black", lw=0.6, label="reading")
            bottom.plot(t, trace.score, color="tab:purple", lw=0.7)
    a = trace.alert
    top.scatter(
        np.asarray(t)[a],
        trace.value[a],
        color=ALERT,
        s=14,
        zorder=3,
        label=f"alert ({int(a.sum())})",
    )
    if threshold is not None:
        bottom.axhline(
            threshold, color=THRESHOLD, lw=0.8, ls="--", label=f"alert threshold {threshold:g}"
        )
        bottom.legend(loc="upper left", fontsize=8)
    top.legend(loc="upper left", fontsize=8, ncol=6)
    shown = f" (min/max per column of {n // max(len(starts), 1)}+ readings)" if binned else ""
    top.set_title(title + shown, fontsize=10)
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("anomaly score")
    fig.autofmt_xdate()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
