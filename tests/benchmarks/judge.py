"""Judge a scoring change on every validation corpus before NAB, by the adoption rule.

A change to the scoring is expressed as ``AlertPolicy`` settings (``--set k=v``); this
script scores the shipped model's captured forecasts with the defaults and with the change
in the same run and prints the three NAB-style scores (standard / reward low FP / reward
low FN) of each corpus, the standard score's change, and the rule's verdict:

- the judging corpora are realinject and realheld (real recordings with injected
  anomalies) and the built-in (123, 321), pattern (7, 8) and burst (5, 6) synthetic
  corpora; ``--fresh`` judges on seeds never used before (456, 654; 9, 10; 7, 8) instead,
  ``--third`` on a third set (789, 987; 11, 12; 9, 10), ``--held-out`` on the realfresh
  corpus alone (kept out of the judging set);
- adopted only if the mean standard score over them rises by at least ``MIN_MEAN_GAIN``
  and no corpus falls by more than ``MAX_LOSS``;
- NAB (``--nab``) is printed after the verdict, for reporting, and vetoes a change that
  loses there; it never chooses one.

Each row also gives ``top``: the files whose highest score after NAB's probationary 15 %
lies in one of their windows, the property that matters most where a file holds one
anomaly.

The forecasts do not depend on the scoring, so they are captured once (minutes) and every
judgement replays only the scoring::

    python -m tests.benchmarks.judge capture --cache /tmp/judge [--fresh] [--nab]
    python -m tests.benchmarks.judge compare --cache /tmp/judge --set persist_weight=0 [--fresh]
    python -m tests.benchmarks.judge parts --cache /tmp/judge realinject realheld nab

A model change is judged the same way, the defaults scoring the forecasts of two models: a
cache holds one model's forecasts, so capture the candidate's into a cache of its own
(``--checkpoint``, default the shipped model; ``--ring-dtype`` for its rings held in half
precision) and compare the shipped model's cache against
it (``--against``; the pickles must exist there)::

    python -m tests.benchmarks.judge capture --cache /tmp/cand --checkpoint STEM [--fresh] [--nab]
    python -m tests.benchmarks.judge compare --cache /tmp/judge --against /tmp/cand [--fresh]

One retrain of an unchanged recipe with another seed moves the corpora by as much as a
model change does (docs/decisions/model-training-variants.md), so a model change is best
judged over several training seeds per side: comma-separated caches, paired in order, each
corpus's change the mean over the pairs::

    python -m tests.benchmarks.judge compare --cache /tmp/base0,/tmp/base1 \
        --against /tmp/cand0,/tmp/cand1 --nab

``parts`` says, for the defaults, in how many files the highest score after NAB's
probationary 15 % outside the windows beats every score inside them, and which part of the
score (``StepResult.parts``) made that reading's score.

Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tcnad.detector import scoring
from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import evaluate, load_corpus
from tcnad.detector.state import DEFAULT_RING_DTYPE, RING_DTYPES
from tcnad.topology.cli.options import set_threads
from tests.benchmarks import burst_corpus, pattern_corpus
from tests.benchmarks.level_novelty import Captured, capture, synthetic
from tests.benchmarks.nab_run import _policy, replay_scores, replay_steps

MIN_MEAN_GAIN = 0.3
MAX_LOSS = 1.0
SEEDS = {"builtin": (123, 321), "pattern": (7, 8), "burst": (5, 6)}
FRESH = {"builtin": (456, 654), "pattern": (9, 10), "burst": (7, 8)}
# A third set, first run on 2026-12-07 (docs/decisions/online-correction.md)
THIRD = {"builtin": (789, 987), "pattern": (11, 12), "burst": (9, 10)}
# A real corpus kept out of the judging set, built after the test it serves was stated
# (docs/decisions/online-correction.md); ``--held-out`` captures and judges it alone
HELD_OUT = "realfresh"


def _makers(
    fresh: bool, nab: bool, third: bool = False, held_out: bool = False
) -> dict[str, Callable[[], Captured]]:
    if held_out:  # the held-out corpus alone (docs/decisions/online-correction.md)
        return {HELD_OUT: lambda: capture(load_corpus(corpora.unpack(HELD_OUT)))}
    seeds = THIRD if third else FRESH if fresh else SEEDS
    out: dict[str, Callable[[], Captured]] = {}
    if not (fresh or third):
        out["realinject"] = lambda: capture(load_corpus(corpora.unpack("realinject")))
        out["realheld"] = lambda: capture(load_corpus(corpora.unpack("realheld")))
    for s in seeds["builtin"]:
        out[f"builtin{s}"] = lambda s=s: synthetic(s, 60, 4000)
    for s in seeds["pattern"]:
        out[f"pattern{s}"] = lambda s=s: capture(pattern_corpus.corpus(s, 60, 4000))
    for s in seeds["burst"]:
        out[f"burst{s}"] = lambda s=s: capture(burst_corpus.corpus(s, 60, 4000))
    if nab:
        out["nab"] = lambda: capture(load_corpus(corpora.unpack("nab")))
    return out


def _load(cache: Path, name: str, make: Callable[[], Captured]) -> Captured:
    path = cache / f"{name}.pkl"
    if path.exists():
        with path.open("rb") as f:
            got: Captured = pickle.load(f)
        return got
    t0 = time.perf_counter()
    c = make()
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(c, f)
    print(f"captured {name}: {int(c.lengths.sum())} readings in {time.perf_counter() - t0:.0f} s")
    return c


Judged = tuple[list[float], int, int, int, int]


def top_in_window(c: Captured, score: np.ndarray) -> int:
    """Files whose highest score after NAB's probationary 15 % lies in one of their windows
    (the earliest such reading where several tie)."""
    hits = 0
    for i, item in enumerate(c.corpus):
        n = int(c.lengths[i])
        start = int(0.15 * n)
        if not item.windows or n <= start:
            continue
        at = start + int(np.argmax(score[i, start:n]))
        hits += any(a <= at <= b for a, b in item.windows)
    return hits


def judge(c: Captured, policy: scoring.AlertPolicy) -> Judged:
    """``scored`` for the scores ``policy`` gives the captured forecasts."""
    got = replay_scores(policy, c.levels, c.pending, c.values, c.lengths, c.times)
    return scored(c, got["score"])


def scored(c: Captured, score: np.ndarray) -> Judged:
    """The three normalised scores of ``score`` ``(files, T)``, windows hit and detections
    outside windows under the standard profile, and ``top_in_window``."""
    by_name = {s.name: score[i, : c.lengths[i]] for i, s in enumerate(c.corpus)}
    res = evaluate(c.corpus, by_name)
    std = res[0]
    top = top_in_window(c, score)
    return [r.normalised for r in res], std.windows_hit, std.n_windows, std.false_positives, top


def beaten_by(c: Captured) -> dict[str, int]:
    """Per part of the score, the files whose highest score outside their windows (after
    the probationary 15 %) exceeds every score inside them, that part making it."""
    files, steps = c.values.shape
    score = np.zeros((files, steps))
    part = np.full((files, steps), "none", dtype=object)
    default = scoring.AlertPolicy()
    for t, idx, res in replay_steps(default, c.levels, c.pending, c.values, c.lengths, c.times):
        score[idx, t] = res.score
        names = list(res.parts)
        stacked = np.stack([res.parts[k] for k in names], axis=1)
        best = np.array(names, dtype=object)[stacked.argmax(axis=1)]
        part[idx, t] = np.where(stacked.max(axis=1) > 0, best, "none")
    out: dict[str, int] = {}
    for i, item in enumerate(c.corpus):
        n = int(c.lengths[i])
        inside = np.zeros(n, dtype=bool)
        for a, b in item.windows:
            inside[a : b + 1] = True
        outside = ~inside
        outside[: int(0.15 * n)] = False
        if not inside.any() or not outside.any():
            continue
        at = np.flatnonzero(outside)[np.argmax(score[i, :n][outside])]
        if score[i, at] > score[i, :n][inside].max():
            out[part[i, at]] = out.get(part[i, at], 0) + 1
    return out


def fmt(got: Judged) -> str:
    s, hit, n, fp, top = got
    return f"{' / '.join(f'{x:6.2f}' for x in s)}  {hit}/{n}, {fp} out, top {top}"


def compare(
    caches: list[Path],
    sets: list[str],
    fresh: bool,
    nab: bool,
    againsts: list[Path] | None = None,
    third: bool = False,
    held_out: bool = False,
) -> None:
    """Each cache scored with the defaults against itself with ``sets`` (or against the
    cache of ``againsts`` at the same position: another model's forecasts), every corpus;
    with several pairs (e.g. several training seeds per side), a corpus's change is the
    mean over the pairs, and the rule judges those means."""
    if againsts is not None and len(againsts) != len(caches):
        raise SystemExit(f"{len(caches)} caches but {len(againsts)} --against caches")
    others: list[Path | None] = list(againsts) if againsts else [None] * len(caches)
    pairs = list(zip(caches, others, strict=True))
    base, variant = scoring.AlertPolicy(), _policy(sets)
    on = ", ".join(str(x) for x in againsts) if againsts else ""
    print(f"variant: {' '.join(sets) or '(defaults)'}" + (f" on {on}" if on else ""))
    print(f"{'corpus':12s} {'defaults':46s} {'variant':46s} standard")
    deltas: dict[str, float] = {}
    for name, make in _makers(fresh, nab, third, held_out).items():
        got = []
        for k, (cache, against) in enumerate(pairs, 1):
            c = _load(cache, name, make)
            other = c
            if against is not None:
                if not (against / f"{name}.pkl").exists():
                    raise SystemExit(f"{against / name}.pkl missing: capture it with --checkpoint")
                other = _load(against, name, make)
            a, b = judge(c, base), judge(other, variant)
            d = b[0][0] - a[0][0]
            label = name if len(pairs) == 1 else f"{name} #{k}"  # pair k: the k-th caches
            print(f"{label:12s} {fmt(a):46s} {fmt(b):46s} {d:+.2f}", flush=True)
            got.append(d)
        deltas[name] = float(np.mean(got))
        if len(pairs) > 1:
            print(f"{name:12s} mean over {len(pairs)} pairs: {deltas[name]:+.2f}", flush=True)
    judged = {k: v for k, v in deltas.items() if k != "nab"}
    mean = float(np.mean(list(judged.values())))
    worst = min(judged.values())
    ok = mean >= MIN_MEAN_GAIN and worst >= -MAX_LOSS
    veto = "nab" in deltas and deltas["nab"] < 0
    print(
        f"mean {mean:+.2f}, worst {worst:+.2f} over {len(judged)} corpora: "
        f"{'passes' if ok else 'fails'} the rule (mean >= +{MIN_MEAN_GAIN}, none < -{MAX_LOSS})"
        + (f"; NAB {deltas['nab']:+.2f}{' (veto)' if veto else ''}" if "nab" in deltas else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("capture", "compare", "parts"))
    ap.add_argument(
        "--cache", required=True, help="a cache; compare: several, comma-separated, paired"
    )
    ap.add_argument("--set", action="append", default=[], help="policy field=value")
    ap.add_argument("--fresh", action="store_true", help="judge on fresh seeds")
    ap.add_argument("--third", action="store_true", help="judge on the third seed set")
    ap.add_argument("--held-out", action="store_true", help=f"the {HELD_OUT} corpus alone")
    ap.add_argument("--nab", action="store_true", help="also NAB, after the verdict")
    ap.add_argument("--checkpoint", help="capture: the model (default: the shipped one)")
    ap.add_argument(
        "--ring-dtype",
        choices=RING_DTYPES,
        help=f"capture: the rings' dtype (default {DEFAULT_RING_DTYPE})",
    )
    ap.add_argument(
        "--against",
        help="compare: the variant's forecasts, a cache (or one per --cache, comma-separated)",
    )
    ap.add_argument("names", nargs="*", help="parts: the corpora")
    args = ap.parse_intermixed_args()
    set_threads(1)
    if args.checkpoint:
        os.environ["TCNAD_MODEL"] = args.checkpoint
    if args.ring_dtype:
        os.environ["TCNAD_RING_DTYPE"] = args.ring_dtype
    caches = [Path(x) for x in args.cache.split(",")]
    againsts = None if args.against is None else [Path(x) for x in args.against.split(",")]
    if args.what != "compare" and len(caches) > 1:
        raise SystemExit(f"{args.what} takes one --cache")
    if args.what == "capture":
        for name, make in _makers(args.fresh, args.nab, args.third, args.held_out).items():
            _load(caches[0], name, make)
    elif args.what == "parts":
        for name in args.names:
            with (caches[0] / f"{name}.pkl").open("rb") as f:
                got = beaten_by(pickle.load(f))
            print(f"{name:12s} files whose outside maximum beats the windows: {got}")
    else:
        compare(caches, args.set, args.fresh, args.nab, againsts, args.third, args.held_out)


if __name__ == "__main__":
    main()
