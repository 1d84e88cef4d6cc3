"""The Numenta Anomaly Benchmark scorer (Lavin & Ahmad 2015, NAB v1.1 rules).

A detector emits an anomaly score in [0, 1] per row; a row is a detection when its score is
at least the threshold. Per labelled window only the earliest detection counts, weighted by
a scaled sigmoid of its position: ``+tp`` at the window's left edge falling towards 0 at its
right edge; a window without a detection costs ``-fn``. Every detection outside a window
costs ``fp`` times a sigmoid of its distance after the preceding window (in window widths;
``-fp`` when no window precedes it). The first 15% of each file (at most 750 rows) is a
probationary period and not scored. One global threshold per profile is chosen by sweeping
every distinct score over the whole corpus, and the raw total is normalised as
``100 * (raw - null) / (perfect - null)``, where ``null`` is the best total of a detector
that never changes its score and ``perfect = tp * number of windows``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tcnad.detector.arrays import F64, I64
from tcnad.detector.errors import DetectorError
from tcnad.detector.lab import corpora
from tcnad.detector.lab.series import Series, Times, format_times, parse_times, read_series

PROBATION_PERCENT = 0.15
PROBATION_CAP_ROWS = 5000  # the period is at most PROBATION_PERCENT * this = 750 rows
NOTHING = 1.1  # the sweep's first threshold: above every score, so nothing is detected
OUTSIDE = -1  # window id of a row outside every window
PROBATION = -2  # window id of a row in the probationary period


class CorpusError(DetectorError):
    """The NAB corpus is missing or inconsistent (a file, its labels or its scores)."""


@dataclass(frozen=True)
class Profile:
    """An application profile: weights of true positives, false positives, false negatives."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)


@dataclass(frozen=True)
class LabelledSeries:
    """A corpus file with its windows as inclusive row ranges ``(first, last)``."""

    name: str  # "category/file.csv", the key in combined_windows.json
    series: Series
    windows: tuple[tuple[int, int], ...]


def scaled_sigmoid(position: float) -> float:
    """NAB's ``2 * sigmoid(-5 x) - 1``: 0.987 at -1 (window start), 0 at 0, -1 beyond 3."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(n_rows: int) -> int:
    """Rows at the start of a file that are not scored."""
    return int(min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_PERCENT * PROBATION_CAP_ROWS))


def _sigmoid(position: F64) -> F64:
    """Vectorised ``scaled_sigmoid``."""
    clipped = np.minimum(position, 4.0)
    return np.where(position > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * clipped)) - 1.0)


def row_weights(n_rows: int, windows: Sequence[tuple[int, int]]) -> tuple[I64, F64]:
    """Per row, the window it belongs to and its unweighted score if it were a detection.

    Returns ``(window_id, unit)``, both ``(n_rows,)``: ``window_id`` is the window's index,
    ``OUTSIDE`` or ``PROBATION``; ``unit`` is ``sigmoid(position) / sigmoid(-1)`` inside a
    window (1 at its first row) and the signed false-positive factor in ``[-1, 0)`` outside
    (``-1`` before the first window).
    """
    window_id = np.full(n_rows, OUTSIDE, dtype=np.int64)
    unit = np.full(n_rows, -1.0)
    max_tp = scaled_sigmoid(-1.0)
    rows = np.arange(n_rows, dtype=np.float64)
    starts = [first for first, _ in windows[1:]] + [n_rows] if windows else []
    for k, ((first, last), next_first) in enumerate(zip(windows, starts, strict=True)):
        if not 0 <= first <= last < n_rows:
            raise CorpusError(f"window {k} rows ({first}, {last}) outside 0..{n_rows - 1}")
        width = float(last - first + 1)
        inside = rows[first : last + 1]
        unit[first : last + 1] = _sigmoid(-(last - inside + 1.0) / width) / max_tp
        window_id[first : last + 1] = k
        after = rows[last + 1 : next_first]
        unit[last + 1 : next_first] = _sigmoid((after - last) / max(width - 1.0, 1e-9))
    window_id[: probation_length(n_rows)] = PROBATION
    return window_id, unit


@dataclass(frozen=True)
class Sweep:
    """Raw corpus score for every distinct threshold, highest threshold first.

    thresholds, scores: ``(m,)``; ``thresholds[0] = NOTHING`` (no detections).
    windows_hit: windows with a detection; false_positives: detections outside windows.
    """

    thresholds: F64
    scores: F64
    windows_hit: I64
    false_positives: I64
    n_windows: int

    def best(self) -> int:
        """Index of the best score (the highest threshold among ties, as NAB picks)."""
        return int(np.argmax(self.scores))


def _window_gains(wid: I64, value: F64, fn: float) -> F64:
    """Score change when each in-window row (in sweep order) joins the detections.

    wid, value: ``(k,)`` window ids and weighted TP scores in descending-score order. A
    window's contribution is the running maximum of its detected rows' values, from ``-fn``.
    """
    order = np.argsort(wid, kind="stable")
    g, v = wid[order], value[order]
    big = 4.0 * (float(np.abs(v).max(initial=0.0)) + fn + 1.0)
    offset = g.astype(np.float64) * big
    running = np.maximum(np.maximum.accumulate(v + offset) - offset, -fn)
    before = np.concatenate(([-fn], running[:-1]))
    before[np.concatenate(([True], g[1:] != g[:-1]))] = -fn
    gains = np.empty_like(v)
    gains[order] = running - before
    return gains


def sweep(scores: F64, window_id: I64, unit: F64, profile: Profile) -> Sweep:
    """Sweep every threshold over concatenated rows (``(n,)`` each; window ids unique over
    the corpus, probationary rows marked ``PROBATION``)."""
    keep = window_id != PROBATION
    s, wid, u = scores[keep], window_id[keep], unit[keep]
    order = np.argsort(-s, kind="stable")
    s, wid, u = s[order], wid[order], u[order]
    inside = wid >= 0
    gains = np.where(inside, 0.0, u * profile.fp)
    gains[inside] = _window_gains(wid[inside], u[inside] * profile.tp, profile.fn)
    n_windows = int(np.unique(wid[inside]).size)
    totals = -profile.fn * n_windows + np.cumsum(gains)
    first_hit = np.zeros(s.size, dtype=bool)
    if inside.any():
        _, first = np.unique(wid[inside], return_index=True)
        first_hit[np.flatnonzero(inside)[first]] = True
    ends = np.flatnonzero(np.concatenate((s[1:] != s[:-1], [True]))) if s.size else s[:0]
    ends = ends.astype(np.int64)
    return Sweep(
        thresholds=np.concatenate(([NOTHING], s[ends])),
        scores=np.concatenate(([-profile.fn * n_windows], totals[ends])),
        windows_hit=np.concatenate(([0], np.cumsum(first_hit)[ends])).astype(np.int64),
        false_positives=np.concatenate(([0], np.cumsum(~inside)[ends])).astype(np.int64),
        n_windows=n_windows,
    )


@dataclass(frozen=True)
class FileOutcome:
    """How one file scores at a fixed threshold, window by window.

    windows: the windows scored (those inside the probationary period are left out, as NAB
    leaves them); hits: per window, whether it has a detection; credits: per window, the
    weighted value of its earliest detection, or ``-fn`` when it has none; peaks: per
    window, its highest anomaly score after the probationary period; false_positives:
    detections outside every window (after the probationary period); fp_cost: their
    weighted total (<= 0).
    """

    windows: tuple[tuple[int, int], ...]
    hits: tuple[bool, ...]
    credits: tuple[float, ...]
    peaks: tuple[float, ...]
    false_positives: int
    fp_cost: float

    @property
    def raw(self) -> float:
        """The file's raw score: window credits plus the false positives' cost."""
        return float(sum(self.credits)) + self.fp_cost


def file_outcome(
    scores: F64, windows: Sequence[tuple[int, int]], threshold: float, profile: Profile
) -> FileOutcome:
    """One file at a fixed threshold (detection: ``score >= threshold``)."""
    window_id, unit = row_weights(scores.shape[0], windows)
    detected = (scores >= threshold) & (window_id != PROBATION)
    outside = detected & (window_id == OUTSIDE)
    scored, hits, credits, peaks = [], [], [], []
    for k, window in enumerate(windows):
        rows = window_id == k
        if not rows.any():
            continue
        found = np.flatnonzero(detected & rows)
        scored.append(window)
        hits.append(bool(found.size))
        credits.append(profile.tp * float(unit[found[0]]) if found.size else -profile.fn)
        peaks.append(float(scores[rows].max()))
    return FileOutcome(
        windows=tuple(scored),
        hits=tuple(hits),
        credits=tuple(credits),
        peaks=tuple(peaks),
        false_positives=int(outside.sum()),
        fp_cost=float((unit[outside] * profile.fp).sum()),
    )


def score_file(
    scores: F64, windows: Sequence[tuple[int, int]], threshold: float, profile: Profile
) -> float:
    """Raw score of one file at a fixed threshold (detection: ``score >= threshold``)."""
    return file_outcome(scores, windows, threshold, profile).raw


def default_root() -> Path:
    """The NAB corpus shipped with tcnad (``tcnad.detector.lab.corpora``), unpacked."""
    return corpora.unpack("nab")


def windows_path(root: Path) -> Path:
    """Where a NAB copy keeps its windows."""
    return root / "labels" / "combined_windows.json"


def load_windows(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A ``combined_windows.json``: file key -> list of (start, end) timestamps."""
    if not path.is_file():
        raise CorpusError(f"NAB windows file {path} not found; point --data at a NAB copy")
    raw: dict[str, list[list[str]]] = json.loads(path.read_text())
    return {k: [(a, b) for a, b in v] for k, v in raw.items()}


def window_rows(
    times: Times, limits: Sequence[tuple[str, str]], where: str
) -> tuple[tuple[int, int], ...]:
    """Map window timestamps to inclusive row ranges: the first row stamped ``start`` and the
    first stamped ``end`` (NAB's rule), else the first row at or after ``start`` and the last
    at or before ``end``."""
    out = []
    for start, end in limits:
        t0, t1 = parse_times([start, end], where)
        at0, at1 = np.flatnonzero(times == t0), np.flatnonzero(times == t1)
        after, before = np.flatnonzero(times >= t0), np.flatnonzero(times <= t1)
        first = int(at0[0]) if at0.size else int(after[0]) if after.size else len(times)
        last = int(at1[0]) if at1.size else int(before[-1]) if before.size else -1
        if last < first:
            raise CorpusError(f"{where}: window {start} .. {end} holds no rows")
        out.append((first, last))
    return tuple(sorted(out))


def load_corpus(root: Path | None = None) -> list[LabelledSeries]:
    """Every file named in the windows file, sorted by key. Raises CorpusError if missing."""
    root = root or default_root()
    windows = load_windows(windows_path(root))
    corpus = []
    for key in sorted(windows):
        path = root / "data" / key
        if not path.is_file():
            raise CorpusError(f"NAB data file {path} is missing")
        series = read_series(path, name=key)
        corpus.append(
            LabelledSeries(key, series, window_rows(series.timestamps, windows[key], key))
        )
    return corpus


def window_labels(n_rows: int, windows: Sequence[tuple[int, int]]) -> npt.NDArray[np.int8]:
    """``(n_rows,)`` 1 inside a window, else 0 (the ``label`` column of NAB's results files)."""
    labels = np.zeros(n_rows, dtype=np.int8)
    for first, last in windows:
        labels[first : last + 1] = 1
    return labels


def write_results(
    out: Path, detector: str, key: str, series: Series, score: F64, labels: npt.NDArray[np.int8]
) -> Path:
    """NAB's results file for the data file ``key`` (``category/name.csv``):
    ``out/<detector>/<category>/<detector>_<name>`` with ``timestamp,value,anomaly_score,label``
    (``score`` and ``labels``: one per row of ``series``). Returns its path."""
    category, name = Path(key).parent.name, Path(key).name
    path = out / detector / category / f"{detector}_{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value", "anomaly_score", "label"])
        times, values = format_times(series.timestamps), series.values.tolist()
        for ts, v, sc, lab in zip(times, values, score.tolist(), labels.tolist(), strict=True):
            w.writerow([ts, repr(v), repr(sc), int(lab)])
    return path


@dataclass(frozen=True)
class ProfileResult:
    """One profile's outcome at its chosen threshold."""

    profile: Profile
    threshold: float
    raw: float
    null: float
    perfect: float
    windows_hit: int
    n_windows: int
    false_positives: int

    @property
    def normalised(self) -> float:
        """``100 * (raw - null) / (perfect - null)``: 0 for the null detector, 100 perfect."""
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def _concatenate(
    corpus: Sequence[LabelledSeries], scores: Mapping[str, F64]
) -> tuple[F64, I64, F64]:
    """All files' rows in one sweep input, window ids made unique across files."""
    all_scores, all_ids, all_units = [], [], []
    next_id = 0
    for item in corpus:
        s = np.asarray(scores[item.name], dtype=np.float64)
        if s.shape != (len(item.series),):
            raise CorpusError(f"{item.name}: {s.shape[0]} scores for {len(item.series)} rows")
        if not bool(np.all((s >= 0.0) & (s <= 1.0))):
            raise CorpusError(f"{item.name}: anomaly scores must lie in [0, 1]")
        wid, unit = row_weights(len(item.series), item.windows)
        all_ids.append(np.where(wid >= 0, wid + next_id, wid))
        next_id += len(item.windows)
        all_scores.append(s)
        all_units.append(unit)
    return np.concatenate(all_scores), np.concatenate(all_ids), np.concatenate(all_units)


def evaluate(
    corpus: Sequence[LabelledSeries],
    scores: Mapping[str, F64],
    profiles: Sequence[Profile] = PROFILES,
) -> list[ProfileResult]:
    """Choose each profile's best global threshold and normalise its raw score.

    scores: file key -> ``(n_rows,)`` anomaly scores in [0, 1], one entry per corpus file.
    """
    missing = [item.name for item in corpus if item.name not in scores]
    if missing:
        raise CorpusError(f"no scores for {len(missing)} corpus files, e.g. {missing[0]}")
    s, wid, unit = _concatenate(corpus, scores)
    constant = np.full_like(s, 0.5)
    n_all = sum(len(item.windows) for item in corpus)
    results = []
    for profile in profiles:
        sw = sweep(s, wid, unit, profile)
        null = sweep(constant, wid, unit, profile)
        b = sw.best()
        results.append(
            ProfileResult(
                profile=profile,
                threshold=float(sw.thresholds[b]),
                raw=float(sw.scores[b]),
                null=float(null.scores[null.best()]),
                perfect=profile.tp * n_all,
                windows_hit=int(sw.windows_hit[b]),
                n_windows=sw.n_windows,
                false_positives=int(sw.false_positives[b]),
            )
        )
    return results
