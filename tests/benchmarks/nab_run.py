"""NAB runs for scoring work: capture the model's forecasts once, replay scoring many times.

The TCN's forecasts do not depend on the scoring state, so the raw pending quantiles of
every NAB reading can be captured in one pass through ``Detector.step`` and the scoring
stage (calibration, tail probability, anomaly score, alert decision) replayed over them with
any ``AlertPolicy``, exactly as ``score_batch`` runs inside ``Detector.step``. From the
repository root::

    python -m tests.benchmarks.nab_run capture --cache /tmp/nab_forecasts.npz [--model PATH]
    python -m tests.benchmarks.nab_run replay --cache /tmp/nab_forecasts.npz [--set k=v ...]

``replay`` prints NAB's three normalised scores, where the standard profile's raw score
comes from per category (``--misses``: and which windows it misses) and the band-miss rate
on the anomaly-free streams; ``tcnad nab`` gives the same numbers end to end (it is the reference).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tcnad.detector import scoring
from tcnad.detector.engine import Detector
from tcnad.detector.lab.nab import default_root, evaluate, load_corpus
from tcnad.detector.lab.offline import score_series
from tcnad.detector.lab.series import Series, epoch_seconds
from tcnad.detector.result import StepResult
from tcnad.topology.cli.lab.nab import category_table, format_results, missed_windows, outcomes
from tcnad.topology.cli.options import load_engine, set_threads


class Capturing:
    """Wraps a Detector: records each slot's pending quantiles before every step."""

    def __init__(self, inner: Detector, horizon: int, n_slots: int, n_levels: int) -> None:
        self.inner = inner
        self.pending = np.full((n_slots, horizon, n_levels), np.nan)
        self.t = np.zeros(n_slots, dtype=np.int64)

    def reset(self, slots: np.ndarray) -> None:
        self.inner.reset(slots)

    def step(
        self, slots: np.ndarray, values: np.ndarray, times: np.ndarray | None = None
    ) -> StepResult:
        pend = self.inner.pending(slots)
        self.pending[slots, self.t[slots]] = pend[:, 0, :]
        self.t[slots] += 1
        return self.inner.step(slots, values, times)


def padded_times(series: Sequence[Series], horizon: int) -> np.ndarray:
    """``(len(series), horizon)`` epoch seconds of every reading, NaN past a series' end."""
    out = np.full((len(series), horizon), np.nan)
    for i, s in enumerate(series):
        out[i, : len(s)] = epoch_seconds(s.timestamps)
    return out


def capture(args: argparse.Namespace) -> None:
    set_threads(1)
    corpus = load_corpus(args.data or default_root())
    series: list[Series] = [c.series for c in corpus]
    det = load_engine(args.model, args.device, len(series))
    levels = np.asarray(det.spec.quantiles)
    horizon = max(len(s) for s in series)
    cap = Capturing(det, horizon, len(series), levels.size)
    start = time.perf_counter()
    score_series(cap, series, capacity=len(series))
    print(f"captured {sum(len(s) for s in series)} readings in {time.perf_counter() - start:.1f}s")
    np.savez_compressed(
        args.cache,
        names=np.array([c.name for c in corpus]),
        lengths=np.array([len(s) for s in series]),
        levels=levels,
        pending=cap.pending,
        values=np.stack([np.pad(s.values, (0, horizon - len(s))) for s in series]),
    )


def _policy(overrides: list[str]) -> scoring.AlertPolicy:
    base = scoring.AlertPolicy()
    kw: dict[str, Any] = {}
    for item in overrides:
        key, value = item.split("=", 1)
        kind = type(getattr(base, key))
        kw[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return dataclasses.replace(base, **kw)


def replay_steps(
    policy: scoring.AlertPolicy,
    levels: np.ndarray,
    pending: np.ndarray,
    values: np.ndarray,
    lengths: np.ndarray,
    times: np.ndarray | None = None,
) -> Iterator[tuple[int, np.ndarray, StepResult]]:
    """``score_batch`` over captured forecasts, every series at once, as ``Detector.step``
    runs it: per time step ``t``, ``(t, idx, result)`` for the files ``idx`` that are still
    running. pending ``(files, horizon, Q)``, values ``(files, horizon)`` zero-padded past
    ``lengths``, times ``(files, horizon)`` epoch seconds (``padded_times``)."""
    n, horizon = values.shape
    state = scoring.new_state(1, n)
    order = np.argsort(-lengths, kind="stable")
    for t in range(horizon):
        idx = order[: int((lengths > t).sum())]
        res, state[idx] = scoring.score_batch(
            policy,
            levels,
            pending[idx, t][:, None, :],
            values[idx, t][:, None],
            state[idx],
            None if times is None else times[idx, t],
        )
        yield t, idx, res


def replay_scores(
    policy: scoring.AlertPolicy,
    levels: np.ndarray,
    pending: np.ndarray,
    values: np.ndarray,
    lengths: np.ndarray,
    times: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``replay_steps`` gathered: ``score``, ``outside``, ``warm`` and ``alert``, ``(files,
    horizon)``."""
    n, horizon = values.shape
    out = {"score": np.zeros((n, horizon))}
    out.update({k: np.zeros((n, horizon), dtype=bool) for k in ("outside", "warm", "alert")})
    for t, idx, res in replay_steps(policy, levels, pending, values, lengths, times):
        for k, arr in out.items():
            arr[idx, t] = getattr(res, k)
    return out


def replay(args: argparse.Namespace) -> None:
    data = np.load(args.cache)
    names, lengths, levels = data["names"].tolist(), data["lengths"], data["levels"]
    policy = _policy(args.set)
    corpus = load_corpus(args.data or default_root())
    by_key = {c.name: c.series for c in corpus}
    times = padded_times([by_key[k] for k in names], data["values"].shape[1])
    start = time.perf_counter()
    got = replay_scores(policy, levels, data["pending"], data["values"], lengths, times)
    score, outside, warm, alert = got["score"], got["outside"], got["warm"], got["alert"]
    elapsed = time.perf_counter() - start
    by_name = {k: score[i, : lengths[i]] for i, k in enumerate(names)}
    print(f"policy {policy}\nreplayed in {elapsed:.1f}s")
    results = evaluate(corpus, by_name)
    print(format_results(results))
    print("standard profile, per category:")
    files = outcomes(corpus, [by_name[c.name] for c in corpus], results[0])
    print(category_table(corpus, files, results[0].threshold))
    if args.misses:
        print("standard profile, windows missed:")
        print(missed_windows(corpus, files))
    alerts = {k: alert[i, : lengths[i]].astype(np.float64) for i, k in enumerate(names)}
    print("the alert flag as a 0/1 detector:")
    print(format_results(evaluate(corpus, alerts)))
    clean = [i for i, k in enumerate(names) if k.startswith("artificialNoAnomaly")]
    miss = sum(int((outside[i] & warm[i]).sum()) for i in clean)
    total = sum(int(warm[i].sum()) for i in clean)
    print(
        f"band-miss on artificialNoAnomaly: {miss / total:.4f} (target {policy.target_miss_rate})"
    )
    if args.dump is not None:
        np.savez_compressed(
            args.dump, names=np.array(names), lengths=lengths, score=score, alert=alert
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--model", default="")
    c.add_argument("--device", default="auto")
    r = sub.add_parser("replay")
    r.add_argument("--set", nargs="*", default=[], help="AlertPolicy overrides, key=value")
    r.add_argument("--dump", type=Path, default=None, help="save the anomaly scores (npz)")
    r.add_argument("--misses", action="store_true", help="list the windows missed")
    for q in (c, r):
        q.add_argument("--cache", type=Path, required=True)
        q.add_argument("--data", type=Path, default=None)
    args = p.parse_args()
    capture(args) if args.cmd == "capture" else replay(args)


if __name__ == "__main__":
    main()
