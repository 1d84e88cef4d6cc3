"""Detector benchmarks: streaming step vs naive re-run, step throughput, cache bytes, the
save's preparation (the changed ring rows of many streams, encoded for the store), the
admission of streams into the pool, the recent level's share of scoring, and what one
``Detector.step`` call costs whatever its size (g: not in the default sections).

Run: python tests/benchmarks/bench_detector.py [--threads 2] [--device cpu,cuda] [--sections abcdef]
     python tests/benchmarks/bench_detector.py --threads 1 --sections g
Prints numbers; asserts nothing. Ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from tcnad.detector import scoring
from tcnad.detector.engine import Detector
from tcnad.detector.model import TCN, Weights, fold, folded_forward
from tcnad.detector.scoring import AlertPolicy
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import RING_DTYPES
from tcnad.detector.streaming import RingPool
from tcnad.state.codec import StateCodec, to_stored
from tcnad.state.types import StreamUpdate


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device, min_s: float, min_reps: int) -> float:
    """Seconds per call: warm up, then repeat until ``min_s`` and ``min_reps`` are reached."""
    for _ in range(3):
        fn()
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_s:
        fn()
        reps += 1
    _sync(device)
    return (time.perf_counter() - t0) / reps


def _pool(spec: TCNSpec, weights: Weights, batch: int, device: torch.device) -> RingPool:
    pool = RingPool(spec, weights, capacity=batch, device=device)
    pool.steps[:] = np.random.default_rng(0).integers(0, 5000, batch)  # mixed positions
    return pool


def _naive_step(spec: TCNSpec, w: Weights, window: torch.Tensor, z: torch.Tensor) -> None:
    """The textbook buffer approach: shift the last RF inputs, re-run the whole network."""
    with torch.inference_mode():
        window[:, :-1] = window[:, 1:].clone()
        window[:, -1] = z
        folded_forward(spec, w, window)[:, -1]


def naive_vs_streaming(spec: TCNSpec, weights: Weights, device: torch.device) -> None:
    rf = spec.receptive_field
    print(f"\n(a) streaming step vs naive re-run over the last RF={rf} inputs, device={device}")
    w = {k: v.to(device) for k, v in weights.items()}
    for batch in (1, 64):
        pool = _pool(spec, weights, batch, device)
        slots = np.arange(batch)
        z = torch.randn(batch, spec.n_inputs, device=device)
        window = torch.randn(batch, rf, spec.n_inputs, device=device)

        t_step = _time(partial(pool.step, slots, z), device, 1.0, 20)
        t_naive = _time(partial(_naive_step, spec, w, window, z), device, 2.0, 3)
        print(
            f"  B={batch:5d}  step {t_step * 1e3:8.3f} ms  naive {t_naive * 1e3:9.2f} ms  "
            f"ratio {t_naive / t_step:7.1f}x"
        )


def throughput(spec: TCNSpec, weights: Weights, device: torch.device) -> None:
    print(f"\n(b) batched step throughput, device={device}")
    for batch in (1, 64, 1024, 8192):
        pool = _pool(spec, weights, batch, device)
        slots = np.arange(batch)
        z = torch.randn(batch, spec.n_inputs, device=device)
        t_step = _time(partial(pool.step, slots, z), device, 2.0, 10)
        det = Detector(spec, weights, device=device, capacity=batch)
        vals = np.random.default_rng(1).normal(size=(batch, spec.n_inputs))
        times = np.full(batch, 1.6e9)  # readings with times, as the worker steps them
        t_eng = _time(partial(det.step, slots, vals, times), device, 2.0, 10)
        t_untimed = _time(partial(det.step, slots, vals), device, 2.0, 10)
        # Whole-number readings (counts) are scored on the square-root scale: the same
        # readings with it on and off, timed in turns (best of three each).
        whole = np.round(np.abs(vals) * 10.0)
        on, off = (
            Detector(spec, weights, AlertPolicy(count_scale=c), device=device, capacity=batch)
            for c in (True, False)
        )
        best = _in_turns({"on": on, "off": off}, slots, whole, times, device)
        print(
            f"  B={batch:5d}  TCN step {batch / t_step:12,.0f} readings/s   "
            f"Detector.step (score+normalise+step) {batch / t_eng:12,.0f} readings/s   "
            f"without times {batch / t_untimed:12,.0f} readings/s "
            f"(the daily profile adds {t_eng / t_untimed - 1:+.0%})   "
            f"counts {batch / best['on']:12,.0f} readings/s "
            f"(the count scale adds {best['on'] / best['off'] - 1:+.0%})"
        )
        if batch >= 1024:
            step_variants(spec, weights, device, batch, vals, times)


def _in_turns(
    dets: dict[str, Detector],
    slots: np.ndarray,
    vals: np.ndarray,
    times: np.ndarray,
    device: torch.device,
) -> dict[str, float]:
    """Seconds per ``step`` of each detector on the same readings, timed in turns (best of
    three each), so that the host's drift falls on all of them alike."""
    best = dict.fromkeys(dets, math.inf)
    for _ in range(3):
        for key, d in dets.items():
            best[key] = min(best[key], _time(partial(d.step, slots, vals, times), device, 0.7, 5))
    return best


def step_variants(
    spec: TCNSpec,
    weights: Weights,
    device: torch.device,
    batch: int,
    vals: np.ndarray,
    times: np.ndarray,
) -> None:
    """``Detector.step`` variants, each set timed in turns (best of three each): the scoring
    in torch on ``device`` and in numpy on the host (on a GPU the first is the default, on
    the CPU the second); the rings held in each of ``RING_DTYPES`` (the step computes in
    float32 whatever the rings hold)."""
    slots = np.arange(batch)
    dets = {
        where: Detector(spec, weights, device=device, capacity=batch, score_on_device=on)
        for where, on in (("device", True), ("host", False))
    }
    best = _in_turns(dets, slots, vals, times, device)
    print(
        f"  B={batch:5d}  Detector.step, scoring in torch on {device.type}: "
        f"{batch / best['device']:12,.0f} readings/s; in numpy on the host: "
        f"{batch / best['host']:12,.0f} readings/s (torch at {best['host'] / best['device']:.2f}x "
        "the speed of numpy)"
    )
    dets = {
        d: Detector(spec, weights, device=device, capacity=batch, ring_dtype=d) for d in RING_DTYPES
    }
    best = _in_turns(dets, slots, vals, times, device)
    rates = ", ".join(f"{d} {batch / t:,.0f}" for d, t in best.items())
    ratios = ", ".join(f"{d} {best['float32'] / t:.2f}x" for d, t in best.items() if d != "float32")
    print(
        f"  B={batch:5d}  Detector.step by ring dtype, readings/s: {rates} "
        f"({ratios} float32's rate)"
    )


def cache_bytes(spec: TCNSpec, weights: Weights) -> None:
    det = Detector(spec, weights, device="cpu", capacity=1, ring_dtype="float32")
    rings, stats = det.layout.ring_bytes, det.layout.stats_size * 8
    print("\n(c) state per stream, reference spec")
    print(f"  rings float32: {rings:,} bytes ({rings / 1024:.1f} KiB), stats: {stats} bytes")
    print(f"  bytes changed per reading: rings {sum(c * 4 for _, c in spec.ring_shapes)}")


def _delta_per_ring(det: Detector, slots: np.ndarray, since: np.ndarray) -> list[list[object]]:
    """Reference: the changed rows of each stream as one array per ring (the representation
    before packed deltas): streams with equal step counts gathered together, then a
    ``(start, rows)`` pair per stream and ring."""
    steps = det.pool.steps[slots]
    parts: list[list[object]] = [[] for _ in range(slots.size)]
    n_all = steps - since
    for n in np.unique(n_all):
        members = np.flatnonzero(n_all == n)
        s = steps[members]
        per_conv = []
        for j, (length, _ch) in enumerate(det.spec.ring_shapes):
            n_j = int(min(n, length))
            rows = (s[:, None] - n_j + np.arange(n_j)[None, :]) % length
            got = det.pool.read_rows(j, slots[members], rows.astype(np.int64))
            per_conv.append(list(zip(((s - n_j) % length).tolist(), got, strict=True)))
        for b, ring_rows in zip(members.tolist(), zip(*per_conv, strict=True), strict=True):
            parts[b] = list(ring_rows)
    return parts


def _encode_per_ring(parts: list[list[object]], ring_dtype: str) -> int:
    """Reference encoding: one contiguous little-endian copy per ring in the stored form of
    ``ring_dtype``, then joined."""
    total = 0
    for ring_rows in parts:
        blob = b"".join(
            to_stored(rows, ring_dtype).tobytes()  # type: ignore[arg-type]
            for _, rows in ring_rows  # type: ignore[misc]
        )
        total += len(blob)
    return total


def save_preparation(spec: TCNSpec, weights: Weights) -> None:
    """What a save costs the worker's event loop before any byte goes to Redis."""
    streams = 1024
    det = Detector(spec, weights, device="cpu", capacity=streams)
    print(
        "\n(d) save preparation: changed ring rows of 1,024 streams, encoded (CPU, "
        f"{det.layout.ring_dtype} rings)"
    )
    codec = StateCodec(det.layout)
    slots = np.arange(streams)
    rng = np.random.default_rng(3)
    for _ in range(300):
        det.step(slots, rng.normal(size=(streams, spec.n_inputs)))
    for mean in (1, 4, 17, 40):
        since = det.pool.steps[slots].copy()
        k = np.maximum(rng.poisson(mean, size=streams), 1)  # new steps per stream
        for r in range(int(k.max())):
            m = slots[k > r]
            det.step(m, rng.normal(size=(m.size, spec.n_inputs)))

        def packed(since: np.ndarray = since) -> int:
            return sum(len(codec.encode_rows(d)) for d in det.delta(slots, since))

        def per_ring(since: np.ndarray = since) -> int:
            return _encode_per_ring(_delta_per_ring(det, slots, since), det.layout.ring_dtype)

        assert packed() == per_ring()  # as many bytes either way
        t_new = _time(packed, torch.device("cpu"), 1.0, 5)
        t_old = _time(per_ring, torch.device("cpu"), 1.0, 5)
        updates = [StreamUpdate(str(i), d, 1, 1.0) for i, d in enumerate(det.delta(slots, since))]
        t_enc = _time(
            lambda u=updates: [codec.encode_update(x) for x in u], torch.device("cpu"), 1.0, 5
        )
        print(
            f"  ~{mean:2d} steps/stream ({int(k.sum()):6,} rows of 16 rings): packed delta + "
            f"encode {t_new * 1e3:6.1f} ms, per-ring reference {t_old * 1e3:6.1f} ms "
            f"({t_old / t_new:.1f}x); encode_update alone {t_enc * 1e3:5.1f} ms"
        )


def admission(spec: TCNSpec, weights: Weights) -> None:
    """What making 1,024 streams hot costs: new streams, and streams with a stored state."""
    print("\n(e) admission of 1,024 streams into the pool (CPU)")
    streams = 1024
    det = Detector(spec, weights, device="cpu", capacity=2 * streams)
    cpu = torch.device("cpu")
    halves = [np.arange(streams), np.arange(streams, 2 * streams)]
    det.step(halves[0], np.zeros((streams, spec.n_inputs)))  # some state to copy
    stored = det.get(halves[0])
    turn = iter(range(10**9))  # alternate halves: each call writes slots the last did not

    def slots() -> np.ndarray:
        return halves[next(turn) % 2]

    t_reset = _time(lambda: det.reset(slots()), cpu, 1.0, 5)
    t_new = _time(lambda: det.put(slots(), [det.new_state() for _ in range(streams)]), cpu, 1.0, 5)
    t_put = _time(lambda: det.put(slots(), stored), cpu, 1.0, 5)
    print(
        f"  new streams: reset {t_reset * 1e3:.1f} ms, put(new_state() each) "
        f"{t_new * 1e3:.1f} ms ({t_new / t_reset:.1f}x); stored states: put {t_put * 1e3:.1f} ms"
    )
    # As a store loads them: each stream's ring bytes decoded, then put
    codec = StateCodec(det.layout)
    blobs = [codec.encode_rings(st.rings) for st in stored]
    decoded = [
        type(st)(st.step, codec.decode_rings(b), st.stats)
        for st, b in zip(stored, blobs, strict=True)
    ]
    t_dec = _time(lambda: [codec.decode_rings(b) for b in blobs], cpu, 1.0, 5)
    t_put_dec = _time(lambda: det.put(slots(), decoded), cpu, 1.0, 5)
    print(
        f"  stored states from their bytes ({det.layout.ring_dtype} rings): decode "
        f"{t_dec * 1e3:.1f} ms, put {t_put_dec * 1e3:.1f} ms"
    )


def scoring_parts(spec: TCNSpec) -> None:
    """What the recent level (``scoring.level_novelty``) costs inside ``score_batch``."""
    print("\n(f) scoring a batch of 1,024 one-value streams (CPU, numpy)")
    streams, n = 1024, 1
    policy = AlertPolicy()
    levels = np.asarray(spec.quantiles)
    rng = np.random.default_rng(2)
    pending = np.broadcast_to(np.sort(rng.normal(size=levels.size)), (streams, n, levels.size))
    pending = pending.copy()
    state = scoring.new_state(n, streams)
    for t in range(300):  # past warm-up, the recent level's window full
        times = np.full(streams, 1.6e9 + 300.0 * t)
        _, state = scoring.score_batch(
            policy, levels, pending, rng.normal(size=(streams, n)), state, times
        )
    obs, times = rng.normal(size=(streams, n)), np.full(streams, 1.6e9 + 300.0 * 300)
    block = state[:, scoring.scoring_layout(n).at("level")]
    cpu = torch.device("cpu")
    best = {"score_batch": math.inf, "level_novelty": math.inf}
    for _ in range(3):  # in turns, best of three each
        best["score_batch"] = min(
            best["score_batch"],
            _time(
                partial(scoring.score_batch, policy, levels, pending, obs, state, times),
                cpu,
                0.7,
                20,
            ),
        )
        best["level_novelty"] = min(
            best["level_novelty"],
            _time(partial(scoring.level_novelty, policy.level, obs, block), cpu, 0.7, 20),
        )
    whole, part = best["score_batch"], best["level_novelty"]
    print(
        f"  score_batch {whole * 1e3:.3f} ms, of which level_novelty {part * 1e3:.3f} ms "
        f"({part / whole:.0%}; {part / streams * 1e6:.2f} us per reading)"
    )


def call_cost(spec: TCNSpec, weights: Weights) -> None:
    """A worker steps a batch in rounds, one ``Detector.step`` call per round, of as many
    streams as have an r-th reading: the cost of a call is a fixed part plus a part per
    reading. Both are fitted (least squares) to the best of three timings at each size, for
    the whole step and for its TCN step alone (``RingPool.step``); slots spread over a pool
    of 4,096, the readings timed as a worker's (with times)."""
    print("\n(g) cost of one Detector.step call by its size (CPU; spread slots, with times)")
    cpu, cap = torch.device("cpu"), 4096
    det = Detector(spec, weights, device=cpu, capacity=cap)
    rng = np.random.default_rng(3)
    sizes = (1, 16, 64, 256, 640, 1024)
    whole, tcn = [], []
    clock = [1.6e9]

    def timed_step(slots: np.ndarray, vals: np.ndarray) -> None:
        clock[0] += 300.0
        det.step(slots, vals, np.full(slots.size, clock[0]))

    for b in sizes:
        slots = np.sort(rng.choice(cap, b, replace=False))
        vals = rng.normal(size=(b, spec.n_inputs))
        for _ in range(20):  # warms the caches; before the scoring's warm-up (200 readings)
            # a call costs the same: every part is computed, then masked
            timed_step(slots, vals)
        z = torch.from_numpy(vals.astype(np.float32))
        t_whole = min(_time(partial(timed_step, slots, vals), cpu, 0.3, 20) for _ in range(3))
        t_tcn = min(_time(partial(det.pool.step, slots, z), cpu, 0.3, 20) for _ in range(3))
        whole.append(t_whole)
        tcn.append(t_tcn)
        print(
            f"  B={b:5d}  Detector.step {t_whole * 1e3:7.3f} ms ({t_whole / b * 1e6:7.2f} us per "
            f"reading), of which the TCN step {t_tcn * 1e3:7.3f} ms"
        )
    x = np.asarray(sizes, dtype=np.float64)
    for name, ys in (("Detector.step", whole), ("TCN step", tcn), ("the rest", None)):
        y = np.asarray(ys) if ys is not None else np.asarray(whole) - np.asarray(tcn)
        per, fixed = np.polyfit(x, y, 1)
        print(f"  {name:14s} fixed {fixed * 1e3:6.3f} ms per call, {per * 1e6:5.2f} us per reading")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu,cuda", help="comma list; cuda skipped if absent")
    ap.add_argument("--sections", default="abcdef", help="which of (a)..(g) to run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = TCNSpec()
    torch.manual_seed(0)
    weights = fold(TCN(spec).eval())
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, threads {args.threads}, {cpu}")
    for name in args.device.split(","):
        if name == "cuda" and not torch.cuda.is_available():
            print("\n(cuda not available: skipped)")
            continue
        device = torch.device(name)
        if device.type == "cuda":
            print(f"\nGPU: {torch.cuda.get_device_name(device)}")
        if "a" in args.sections:
            naive_vs_streaming(spec, weights, device)
        if "b" in args.sections:
            throughput(spec, weights, device)
    if "c" in args.sections:
        cache_bytes(spec, weights)
    if "d" in args.sections:
        save_preparation(spec, weights)
    if "e" in args.sections:
        admission(spec, weights)
    if "f" in args.sections:
        scoring_parts(spec)
    if "g" in args.sections:
        call_cost(spec, weights)


if __name__ == "__main__":
    main()
