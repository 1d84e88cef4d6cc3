"""Evidence over several time scales: scoring prototypes judged on every labelled corpus.

Each variant is an extra part of the anomaly score computed causally, per stream, from a
small state, exactly where ``score_batch`` would compute it: from the calibrated quantiles
and the reading that the band's tail probability sees (on the count scale for counts), and
merged into the score before echo suppression, so it raises the score like range novelty
(it alerts nobody by itself). The shipped scoring runs unchanged around it (two of its
functions are wrapped during a replay, never edited).

The taps wrap the names that ``combine`` imported at commit 59e4afe (before scoring became
components), and the figures in docs/decisions/multiscale-evidence-variants.md were measured
there. To re-run, score from an export of that commit (the models are the same)::

    mkdir -p /tmp/base/src /tmp/base/pkg/tcnad && git archive 59e4afe | tar -x -C /tmp/base/src
    for d in detector state topology; do ln -s /tmp/base/src/$d /tmp/base/pkg/tcnad/$d; done
    touch /tmp/base/pkg/tcnad/__init__.py
    cp tests/benchmarks/multiscale_evidence.py /tmp/base/src/tests/benchmarks/
    cd /tmp/base/src && export PYTHONPATH=/tmp/base/pkg
    M=tests.benchmarks.multiscale_evidence
    python -m $M capture --out /tmp/ms [--fresh]      # forecasts of every corpus, once
    python -m $M trace --cache /tmp/ms realinject nab builtin123 ...   # the shipped scoring
    python -m $M run --cache /tmp/ms --variant NAME [k=v ...] [--corpora ...]

``trace`` replays the shipped scoring once per corpus and records each reading's calibrated
quantiles, the reading, each part's score and the score before echo suppression; ``run``
computes a variant from those (exactly what the streaming part would compute, causally) and
applies the echo suppression again.

``capture`` records the shipped model's forecasts for realinject, NAB, the built-in
synthetic corpora (seeds 123, 321), the pattern corpora (7, 8) and the burst corpora (5, 6)
(``--fresh``: seeds 456, 654, pattern 9, 10, burst 7, 8). ``run`` prints, for the default
scoring and the variant in the same run, the three NAB-style scores of every corpus.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np

from tcnad.detector import scoring
from tcnad.detector.lab import corpora
from tcnad.detector.lab.nab import load_corpus
from tcnad.detector.scoring import combine
from tcnad.topology.cli.options import set_threads
from tests.benchmarks import burst_corpus, pattern_corpus
from tests.benchmarks.level_novelty import Captured, capture, synthetic

SEEDS = {"builtin": (123, 321), "pattern": (7, 8), "burst": (5, 6)}
FRESH = {"builtin": (456, 654), "pattern": (9, 10), "burst": (7, 8)}


def capture_all(out: Path, fresh: bool, which: list[str]) -> None:
    set_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    seeds = FRESH if fresh else SEEDS
    jobs = []
    for seed in seeds["builtin"]:
        jobs.append((f"builtin{seed}", lambda s=seed: synthetic(s, 60, 4000)))
    for seed in seeds["pattern"]:
        jobs.append((f"pattern{seed}", lambda s=seed: capture(pattern_corpus.corpus(s, 60, 4000))))
    for seed in seeds["burst"]:
        jobs.append((f"burst{seed}", lambda s=seed: capture(burst_corpus.corpus(s, 60, 4000))))
    if not fresh:
        for name in ("realinject", "nab"):
            jobs.append((name, lambda n=name: capture(load_corpus(corpora.unpack(n)))))
    for name, make in jobs:
        if which and name not in which:
            continue
        path = out / f"{name}.pkl"
        if path.exists():
            continue
        t0 = time.perf_counter()
        c = make()
        with path.open("wb") as f:
            pickle.dump(c, f)
        print(
            f"{name}: {int(c.lengths.sum())} readings in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )


class _Tap:
    """Wraps ``combine.tail_probability`` and ``combine._echo`` during a replay to record, per
    reading, the calibrated quantiles and the reading as the tail probability sees them, and
    the score before echo suppression (the shipped functions run unchanged)."""

    def __init__(self, n: int, horizon: int, q: int) -> None:
        self.idx = np.zeros(0, dtype=np.int64)
        self.t = 0
        self.cal = np.full((n, horizon, q), np.nan)
        self.obs = np.full((n, horizon), np.nan)
        self.raw = np.zeros((n, horizon))
        self.parts = {
            k: np.zeros((n, horizon)) for k in ("lik", "pattern", "beyond", "level", "stuck")
        }

    def _put(self, key: str, x: np.ndarray) -> None:
        self.parts[key][self.idx, self.t] = x

    def lik(self, *a):  # type: ignore[no-untyped-def]
        got = _LIK(*a)
        self._put("lik", got[0])
        return got

    def pattern(self, *a):  # type: ignore[no-untyped-def]
        got = _PATTERN(*a)
        self._put("pattern", got[0])
        return got

    def novelty(self, *a):  # type: ignore[no-untyped-def]
        got = _NOVELTY(*a)
        self._put("beyond", got[0])
        return got

    def level(self, *a):  # type: ignore[no-untyped-def]
        got = _LEVEL(*a)
        self._put("level", got[0][:, 0] if got[0].ndim == 2 else got[0])
        return got

    def repeats(self, *a):  # type: ignore[no-untyped-def]
        got = _REPEATS(*a)
        self._put("stuck", got[0])
        return got

    def tail(self, cal: np.ndarray, levels: np.ndarray, obs: np.ndarray) -> np.ndarray:
        self.cal[self.idx, self.t] = cal[:, 0, :]
        self.obs[self.idx, self.t] = obs[:, 0]
        return _TAIL(cal, levels, obs)

    def echo(self, policy: scoring.AlertPolicy, raw: np.ndarray, echo: np.ndarray):  # type: ignore[no-untyped-def]
        self.raw[self.idx, self.t] = raw
        return _ECHO(policy, raw, echo)


_TAIL, _ECHO = combine.tail_probability, combine._echo
_LIK, _PATTERN, _NOVELTY = combine.likelihood_score, combine.daily_pattern, combine.novelty
_LEVEL, _REPEATS = combine.level_novelty, combine.repeats
_NAMES = (
    "tail_probability",
    "_echo",
    "likelihood_score",
    "daily_pattern",
    "novelty",
    "level_novelty",
    "repeats",
)


def trace(c: Captured, policy: scoring.AlertPolicy | None = None) -> dict[str, np.ndarray]:
    """Replay the shipped scoring over ``c`` as ``Detector.step`` runs it, recording per
    reading: ``cal`` (calibrated quantiles, ``(files, horizon, Q)``, NaN without a band),
    ``obs``, ``raw`` (score before echo), ``warm`` and ``score`` (the shipped score)."""
    policy = policy or scoring.AlertPolicy()
    n, horizon = c.values.shape
    tap = _Tap(n, horizon, c.levels.size)
    state = scoring.new_state(1, n)
    warm = np.zeros((n, horizon), dtype=bool)
    score = np.zeros((n, horizon))
    order = np.argsort(-c.lengths, kind="stable")
    times = c.times
    saved = {k: getattr(combine, k) for k in _NAMES}
    for k, f in zip(
        _NAMES,
        (tap.tail, tap.echo, tap.lik, tap.pattern, tap.novelty, tap.level, tap.repeats),
        strict=True,
    ):
        setattr(combine, k, f)
    try:
        for t in range(horizon):
            idx = order[: int((c.lengths > t).sum())]
            tap.idx, tap.t = idx, t
            res, state[idx] = scoring.score_batch(
                policy,
                c.levels,
                c.pending[idx, t][:, None, :],
                c.values[idx, t][:, None],
                state[idx],
                times[idx, t],
            )
            warm[idx, t] = res.warm
            score[idx, t] = res.score
    finally:
        for k, f in saved.items():
            setattr(combine, k, f)
    valid = np.isfinite(c.pending).all(axis=2)
    tap.cal[~valid] = np.nan
    return {
        "cal": tap.cal,
        "obs": tap.obs,
        "raw": tap.raw,
        "warm": warm,
        "score": score,
        **tap.parts,
    }


def load(path: Path) -> Captured:
    with path.open("rb") as f:
        out: Captured = pickle.load(f)
    return out


def from_npz(path: Path, corpus: str) -> Captured:
    """A ``nab_run capture`` cache of a shipped corpus (``nab`` or ``realinject``)."""
    d = np.load(path)
    by = {c.name: c for c in load_corpus(corpora.unpack(corpus))}
    return Captured(
        [by[k] for k in d["names"].tolist()], d["lengths"], d["values"], d["pending"], d["levels"]
    )


def corpus_names(fresh: bool) -> list[str]:
    seeds = FRESH if fresh else SEEDS
    return [f"{kind}{s}" for kind in ("builtin", "pattern", "burst") for s in seeds[kind]]


def write_traces(cache: Path, names: list[str]) -> None:
    set_threads(1)
    for name in names:
        out = cache / f"{name}.trace.pkl"
        if out.exists():
            continue
        npz = cache / f"{name}.npz"
        c = from_npz(npz, name) if npz.exists() else load(cache / f"{name}.pkl")
        t0 = time.perf_counter()
        tr = trace(c)
        tr["cal"] = tr["cal"].astype(np.float32)
        with out.open("wb") as f:
            pickle.dump({"corpus": c.corpus, "lengths": c.lengths, "levels": c.levels, **tr}, f)
        print(f"{name}: traced in {time.perf_counter() - t0:.0f} s", flush=True)


# ---------------------------------------------------------------- scoring the variants

Trace = dict  # what write_traces stores: corpus, lengths, levels, cal, obs, raw, warm, score


def load_trace(cache: Path, name: str) -> Trace:
    with (cache / f"{name}.trace.pkl").open("rb") as f:
        out: Trace = pickle.load(f)
    return out


def pit(cal: np.ndarray, levels: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Where obs falls in its forecast distribution, ``F(obs)`` in [0, 1]: the one-sided form
    of ``band.tail_probability`` (linear inside the quantiles, exponential tails beyond).
    cal ``(..., Q)``, obs ``(...)``; NaN where cal is NaN."""
    tiny = 1e-12
    cal = np.asarray(cal, dtype=np.float64)
    ok = np.isfinite(cal).all(axis=-1) & np.isfinite(obs)
    cal = np.where(ok[..., None], cal, 0.0)
    obs = np.where(ok, obs, 0.0)
    q = cal.shape[-1]
    idx = np.clip((obs[..., None] >= cal).sum(axis=-1), 1, q - 1)
    c_lo = np.take_along_axis(cal, (idx - 1)[..., None], -1)[..., 0]
    c_hi = np.take_along_axis(cal, idx[..., None], -1)[..., 0]
    t_lo, t_hi = levels[idx - 1], levels[idx]
    frac = np.clip((obs - c_lo) / np.maximum(c_hi - c_lo, tiny), 0.0, 1.0)
    cdf = t_lo + (t_hi - t_lo) * frac
    beta_lo = np.maximum(cal[..., 1] - cal[..., 0], tiny) / np.log(levels[1] / levels[0])
    rate_hi = np.log((1 - levels[-2]) / (1 - levels[-1]))
    beta_hi = np.maximum(cal[..., -1] - cal[..., -2], tiny) / rate_hi
    below = levels[0] * np.exp(np.minimum((obs - cal[..., 0]) / beta_lo, 0.0))
    above = (1 - levels[-1]) * np.exp(np.minimum((cal[..., -1] - obs) / beta_hi, 0.0))
    cdf = np.where(obs < cal[..., 0], below, cdf)
    cdf = np.where(obs > cal[..., -1], 1.0 - above, cdf)
    return np.where(ok, cdf, np.nan)


def ndtri(u: np.ndarray) -> np.ndarray:
    import torch

    return torch.special.ndtri(torch.from_numpy(np.asarray(u, dtype=np.float64))).numpy()


def echo(raw: np.ndarray, horizon: float = 300.0) -> np.ndarray:
    """``likelihood._echo`` over ``(files, T)`` raw scores (zero-padded past a file's end)."""
    decay = np.exp(-1.0 / horizon)
    peak = np.zeros(raw.shape[0])
    out = np.zeros_like(raw)
    for t in range(raw.shape[1]):
        d = peak * decay
        out[:, t] = np.where(raw[:, t] > d, raw[:, t], 0.0)
        peak = np.maximum(d, raw[:, t])
    return out


class Standardised:
    """The likelihood part's running standardisation, for any statistic: ``z+ / (z+ + h)``
    against the stream's own running mean and variance of it (weight ``max(1 / (n + 2),
    floor)``), updated after scoring. 3 floats per stream (mean, var, n)."""

    def __init__(
        self, n: int, h: float = 8.0, floor: float = 1e-3, mean: float = 0.0, var: float = 1.0
    ) -> None:
        self.mean, self.var = np.full(n, mean), np.full(n, var)
        self.n = np.zeros(n)
        self.h, self.floor = h, floor

    def __call__(self, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        z = np.maximum((x - self.mean) / np.sqrt(np.maximum(self.var, 1e-2)), 0.0)
        w = np.maximum(1.0 / (self.n + 2.0), self.floor)
        d = x - self.mean
        self.mean = np.where(ok, self.mean + w * d, self.mean)
        self.var = np.where(ok, (1.0 - w) * (self.var + w * d * d), self.var)
        self.n = self.n + ok
        return np.where(ok, z / (z + self.h), 0.0)


def cusum(
    tr: Trace,
    k: float = 0.5,
    kv: float = 1.0,
    clip: float = 4.0,
    h: float = 8.0,
    parts: str = "msv",
) -> np.ndarray:
    """(a) CUSUMs of the PIT's normal scores ``z = Phi^-1(F(obs))`` (clipped to +-clip):
    upward and downward mean shift ``S+ = max(0, S+ + z - k)``, ``S- = max(0, S- - z - k)``
    and variance ``V = max(0, V + z^2 - 1 - kv)``, each standardised against the stream's
    own history (``Standardised``, h), the largest of the three. State: 3 sums and 3 x 3
    standardisation floats (12)."""
    u = pit(tr["cal"], tr["levels"], tr["obs"])
    ok_all = np.isfinite(u)
    z = np.clip(ndtri(np.clip(np.nan_to_num(u, nan=0.5), 1e-9, 1 - 1e-9)), -clip, clip)
    n, horizon = z.shape
    sp, sm, sv = np.zeros(n), np.zeros(n), np.zeros(n)
    st = {c: Standardised(n, h) for c in parts}
    out = np.zeros((n, horizon))
    for t in range(horizon):
        ok = ok_all[:, t]
        zt = z[:, t]
        sp = np.where(ok, np.maximum(0.0, sp + zt - k), sp)
        sm = np.where(ok, np.maximum(0.0, sm - zt - k), sm)
        sv = np.where(ok, np.maximum(0.0, sv + zt * zt - 1.0 - kv), sv)
        e = np.zeros(n)
        for c, x in (("m", np.maximum(sp, sm)), ("s", sp - sm), ("v", sv)):
            if c in st:
                e = np.maximum(e, st[c](np.abs(x) if c == "s" else x, ok))
        out[:, t] = e
    return out


def horizon_band(
    tr: Trace,
    k: int = 24,
    gain: float = 0.05,
    target: float = 0.01,
    max_scale: float = 64.0,
    cap: float = 40.0,
    h: float = 8.0,
) -> np.ndarray:
    """(b) The reading scored against the band forecast ``k`` readings earlier (the
    calibrated quantiles of reading ``t - k``), widened about its median by an adaptive
    conformal scale of its own (``log s += gain (miss - target)``, ``s`` in [1, max_scale]),
    its surprise ``-ln p`` (capped) standardised as the likelihood part does. State: the
    last k bands (k x Q floats), the scale and 3 standardisation floats."""
    cal, levels, obs = tr["cal"].astype(np.float64), tr["levels"], tr["obs"]
    n, horizon, _ = cal.shape
    mid = int(np.searchsorted(levels, 0.5))
    ls = np.zeros(n)
    st = Standardised(n, h, mean=1.0, var=1.0)
    out = np.zeros((n, horizon))
    k = int(k)
    for t in range(k, horizon):
        band = cal[:, t - k]
        ok = np.isfinite(band).all(axis=1) & np.isfinite(cal[:, t]).all(axis=1)
        b = np.where(ok[:, None], band, 0.0)
        med = b[:, mid : mid + 1]
        c = med + np.exp(ls)[:, None] * (b - med)
        x = np.where(ok, obs[:, t], 0.0)
        p = _TAIL(c[:, None, :], levels, x[:, None])[:, 0]
        miss = (x < c[:, 0]) | (x > c[:, -1])
        s = np.minimum(-np.log(np.maximum(p, 1e-300)), cap)
        out[:, t] = st(s, ok)
        ls = np.where(ok, np.clip(ls + gain * (miss - target), 0.0, np.log(max_scale)), ls)
    return out


def graded(tr: Trace, base: float = 0.95, by: float = 0.0, exact: float = 0.0) -> np.ndarray:
    """(d) Graded novelty: a novel (range or recent level) or stuck reading scores
    ``base + (1 - base) g`` instead of the flat ``novelty_score`` (0.95), so that such
    readings, which all tie today, are ordered by evidence. ``by`` 0: g = the reading's own
    likelihood score (its standardised surprise); ``by`` 1: g = the excess beyond the range
    seen, in ranges, ``x / (x + 0.25)`` (0 for a level or stuck reading). Returns the whole
    raw score (``max`` with the shipped raw is then the raw itself: it replaces the flat
    floor). No state beyond the shipped one. ``exact`` 1: base 0.95 and g = 0 (a check: the
    shipped raw score)."""
    lik, pattern, warm = tr["lik"], tr["pattern"], tr["warm"]
    beyond = tr["beyond"] > 0
    prev = np.zeros_like(beyond)
    prev[:, 1:] = beyond[:, :-1]
    novel = (beyond & ~prev) | ((tr["level"] > 0) & warm)
    flag = novel | (tr["stuck"] > 0)
    if exact:
        g = np.zeros_like(lik)
    elif by == 0:
        g = lik
    else:
        obs = tr["obs"]
        x = np.nan_to_num(obs, nan=0.0)
        hi = np.maximum.accumulate(np.where(np.isfinite(obs), x, -np.inf), axis=1)
        lo = np.minimum.accumulate(np.where(np.isfinite(obs), x, np.inf), axis=1)
        hi_b, lo_b = np.roll(hi, 1, axis=1), np.roll(lo, 1, axis=1)
        hi_b[:, 0], lo_b[:, 0] = np.nan, np.nan
        span = np.maximum(hi_b - lo_b, 1e-12)
        ex = np.maximum(np.maximum(x - hi_b, lo_b - x), 0.0) / span
        ex = np.nan_to_num(np.where(beyond, ex, 0.0))
        g = ex / (ex + 0.25)
    raw = np.maximum(np.maximum(lik, pattern), flag * (base + (1.0 - base) * g))
    return np.where(warm, raw, 0.0)


def _replace_raw(tr: Trace, raw: np.ndarray) -> Trace:
    out = dict(tr)
    out["raw"] = np.zeros_like(raw)
    return out


VARIANTS = {"cusum": cusum, "horizon": horizon_band, "graded": graded}
REPLACES_RAW = {"graded"}


def judge(tr: Trace, extra: np.ndarray | None) -> tuple[list[float], int, int, int, str]:
    """NAB-style scores with the extra part merged before echo (None: the shipped score).
    Returns the three scores, windows hit, windows, FP, and the files whose highest score
    (after the probationary 15%) lies in a window, as 'k/n'."""
    from tcnad.detector.lab.nab import evaluate, probation_length

    raw = tr["raw"]
    score = (
        tr["score"] if extra is None else echo(np.maximum(raw, np.where(tr["warm"], extra, 0.0)))
    )
    corpus, lengths = tr["corpus"], tr["lengths"]
    by = {c.name: np.clip(score[i, : lengths[i]], 0.0, 1.0) for i, c in enumerate(corpus)}
    res = evaluate(corpus, by)
    top = 0
    with_windows = 0
    for c in corpus:
        if not c.windows:
            continue
        with_windows += 1
        s = by[c.name].copy()
        s[: probation_length(len(s))] = -1.0
        best = int(np.argmax(s))
        top += any(a <= best <= b for a, b in c.windows)
    std = res[0]
    return (
        [r.normalised for r in res],
        std.windows_hit,
        std.n_windows,
        std.false_positives,
        f"{top}/{with_windows}",
    )


def line(tag: str, got: tuple[list[float], int, int, int, str]) -> str:
    scores, hit, n, fp, top = got
    return f"  {tag:34s} {' / '.join(f'{x:6.2f}' for x in scores)}   {hit}/{n}, {fp} out, top {top}"


def run_variant(cache: Path, names: list[str], variant: str, params: dict[str, float]) -> None:
    for name in names:
        tr = load_trace(cache, name)
        t0 = time.perf_counter()
        base = judge(tr, None)
        extra = VARIANTS[variant](tr, **params)
        got = judge(_replace_raw(tr, extra) if variant in REPLACES_RAW else tr, extra)
        tag = variant + " " + " ".join(f"{k}={v:g}" for k, v in params.items())
        print(
            f"{name} ({time.perf_counter() - t0:.0f} s):\n{line('default', base)}\n{line(tag, got)}"
            f"   standard {got[0][0] - base[0][0]:+.2f}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--fresh", action="store_true")
    c.add_argument("--only", nargs="*", default=[])
    t = sub.add_parser("trace")
    t.add_argument("--cache", type=Path, required=True)
    t.add_argument("names", nargs="+")
    r = sub.add_parser("run")
    r.add_argument("--cache", type=Path, required=True)
    r.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    r.add_argument("--corpora", nargs="+", default=["realinject", *corpus_names(False)])
    r.add_argument("params", nargs="*", help="key=value")
    args = ap.parse_args()
    if args.cmd == "run":
        kv = (p.split("=", 1) for p in args.params)
        run_variant(
            args.cache,
            args.corpora,
            args.variant,
            {k: (v if k == "parts" else float(v)) for k, v in kv},
        )
    elif args.cmd == "capture":
        capture_all(args.out, args.fresh, args.only)
    elif args.cmd == "trace":
        write_traces(args.cache, args.names)


if __name__ == "__main__":
    main()
