"""The operator's picture of one stream: readings, forecast band, median, alerts, windows.

Top panel: the series, the quantile band each reading was scored against, its median, the
readings that raised an alert, and labelled anomaly windows when given. Bottom panel: the
anomaly score in [0, 1]. Rendered off-screen with matplotlib's Agg canvas (no display,
no pyplot state).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


def plot_trace(
    trace: Trace,
    out: Path,
    windows: Sequence[tuple[int, int]] = (),
    title: str = "",
    threshold: float | None = None,
) -> None:
    """Write a PNG of ``trace``; ``windows`` are inclusive row ranges of labelled anomalies."""
    t = trace.timestamps.astype("datetime64[ms]").astype(object)
    fig = Figure(figsize=(14, 6))
    FigureCanvasAgg(fig)  # render off-screen, independent of any pyplot backend
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for k, (first, last) in enumerate(windows):
        for ax in (top, bottom):
            ax.axvspan(
                t[first],
                t[last],
                color="tab:orange",
                alpha=0.18,
                lw=0,
                label="labelled window" if k == 0 and ax is top else None,
            )
    top.fill_between(
        t,
        trace.lower,
        trace.upper,
        color="tab:blue",
        alpha=0.25,
        lw=0,
        label="forecast band",
        step="mid",
    )
    top.plot(t, trace.median, color="tab:blue", lw=0.7, label="median")
    top.plot(t, trace.value, color="black", lw=0.6, label="reading")
    a = trace.alert
    top.scatter(
        np.asarray(t)[a],
        trace.value[a],
        color="tab:red",
        s=14,
        zorder=3,
        label=f"alert ({int(a.sum())})",
    )
    top.legend(loc="upper left", fontsize=8, ncol=5)
    top.set_title(title, fontsize=10)
    bottom.plot(t, trace.score, color="tab:purple", lw=0.7)
    if threshold is not None:
        bottom.axhline(threshold, color="tab:red", lw=0.6, ls="--")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("anomaly score")
    fig.autofmt_xdate()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
