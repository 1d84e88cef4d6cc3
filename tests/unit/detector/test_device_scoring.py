"""The scoring in torch (on the pool's device) against the scoring in numpy on the host.

The scoring is written once against the array API (``tcnad.detector.arrays``); a
``Detector`` with ``score_on_device=True`` keeps its stats in a float64 tensor and scores
there. On the CPU the two must agree to float64 rounding: they differ only in the last bits
of ``exp`` and ``log``, so every value to 1e-9 relative and every flag (alert, outside,
resolved, direction) exactly, over series on which every part of the score fires. The
same comparison runs on a CUDA device where there is one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tcnad.detector import scoring
from tcnad.detector.engine import Detector
from tcnad.detector.result import StepResult
from tcnad.detector.scoring import AlertPolicy, new_state, score_batch
from tcnad.detector.spec import TCNSpec
from tests.unit.detector.conftest import random_weights

RTOL, ATOL = 1e-9, 1e-12
FLOATS = ("lower", "median", "upper", "score", "tail_prob", "severity", "opening")
FLAGS = ("outside", "alert", "warm", "resolved", "direction")
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def mixed_series(steps: int, streams: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, streams)`` readings of six kinds, each with an anomaly after warm-up, and
    their times (every fifth stream without times)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    cols = []
    for b in range(streams):
        kind = b % 6
        if kind == 0:  # a daily cycle that skips a day
            x = np.sin(2 * np.pi * t / 144) + 0.1 * rng.standard_normal(steps)
            x[steps // 2 : steps // 2 + 144] = 0.1 * rng.standard_normal(144)
        elif kind == 1:  # counts with a burst
            x = rng.poisson(5, steps).astype(float)
            x[steps - 150 : steps - 140] += 25
        elif kind == 2:  # a random walk with a spike
            x = np.cumsum(rng.standard_normal(steps))
            x[steps - 100] += 40
        elif kind == 3:  # a stuck value
            x = np.round(10 * np.sin(2 * np.pi * t / 288) + rng.standard_normal(steps), 1)
            x[steps // 2 : steps // 2 + 60] = x[steps // 2]
        elif kind == 4:  # counts that stop being counts
            x = rng.poisson(3, steps).astype(float)
            x[steps - 200] = -1.5
        else:  # a level shift
            x = 100 + rng.standard_normal(steps)
            x[steps - 250 :] += 8
        cols.append(x)
    times = 1.7e9 + 600.0 * t[:, None] + np.zeros(streams)
    times[:, 4::5] = np.nan
    return np.stack(cols, axis=1), times


def run(det: Detector, x: np.ndarray, times: np.ndarray) -> list[StepResult]:
    slots = np.arange(x.shape[1])
    out = []
    for i in range(x.shape[0]):
        where = np.stack([np.zeros(x.shape[1]), np.full(x.shape[1], float(i))], axis=1)
        out.append(det.step(slots, x[i][:, None], times[i], where))
    return out


def assert_results_agree(a: list[StepResult], b: list[StepResult]) -> None:
    for name in FLOATS:
        got, want = (np.stack([getattr(r, name) for r in rs]) for rs in (b, a))
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)
    for name in FLAGS:
        got, want = (np.stack([getattr(r, name) for r in rs]) for rs in (b, a))
        np.testing.assert_array_equal(got, want, err_msg=name)
    for name in a[0].parts:
        got, want = (np.stack([r.parts[name] for r in rs]) for rs in (b, a))
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)
    for r in b:
        assert isinstance(r.score, np.ndarray) and r.direction.dtype == np.int8


def test_shipped_model_scores_the_same_in_torch_and_in_numpy() -> None:
    x, times = mixed_series(700, 12, seed=3)
    host = Detector.from_checkpoint(capacity=12, device="cpu")
    dev = Detector.from_checkpoint(capacity=12, device="cpu", score_on_device=True)
    assert not host.score_on_device and dev.score_on_device
    assert isinstance(dev._stats, torch.Tensor) and dev._stats.dtype == torch.float64
    a, b = run(host, x, times), run(dev, x, times)
    assert_results_agree(a, b)
    # Not vacuous: alerts were raised and resolved, and every part of the score fired.
    assert sum(int(r.alert.sum()) for r in a) >= 6
    assert sum(int(r.resolved.sum()) for r in a) >= 3
    fired = {k for r in a for k, v in r.parts.items() if (v > 0).any()}
    assert fired == {"band", "novelty", "level", "repeats", "daily"}
    slots = np.arange(12)
    for s, t in zip(host.get(slots), dev.get(slots), strict=True):
        assert s.step == t.step
        assert all(np.array_equal(p, q) for p, q in zip(s.rings, t.rings, strict=True))
        np.testing.assert_allclose(t.stats, s.stats, rtol=RTOL, atol=ATOL)


def test_two_values_per_reading_and_state_exchange_agree() -> None:
    spec = TCNSpec(n_inputs=2, channels=4, dilations=(1, 2, 4), dropout=0.0)
    weights = random_weights(spec, 5)
    policy = AlertPolicy(warmup=20)
    host = Detector(spec, weights, policy, capacity=8, device="cpu")
    dev = Detector(spec, weights, policy, capacity=8, device="cpu", score_on_device=True)
    x1, times = mixed_series(300, 8, seed=4)
    x2, _ = mixed_series(300, 8, seed=5)
    slots = np.array([6, 1, 3, 0])
    res: dict[str, list[StepResult]] = {"host": [], "dev": []}
    for i in range(300):
        vals = np.stack([x1[i, :4], x2[i, 4:]], axis=1)
        for key, det in (("host", host), ("dev", dev)):
            res[key].append(det.step(slots, vals, times[i, :4]))
        if i == 150:  # move two streams through get/put/reset, as a rebalance does
            for det in (host, dev):
                moved = det.get([6, 1])
                det.reset([6, 1])
                det.put([6, 1], moved)
    assert_results_agree(res["host"], res["dev"])
    assert sum(int(r.alert.sum()) for r in res["host"]) >= 1
    np.testing.assert_allclose(dev.pending(slots), host.pending(slots), rtol=RTOL, atol=ATOL)
    since = [s.step - 3 for s in host.get(slots)]
    for d, e in zip(host.delta(slots, since), dev.delta(slots, since), strict=True):
        assert (d.since_step, d.step) == (e.since_step, e.step)
        np.testing.assert_array_equal(d.rows, e.rows)
        np.testing.assert_allclose(e.stats, d.stats, rtol=RTOL, atol=ATOL)


def test_score_batch_on_tensors_returns_tensors_of_the_same_values() -> None:
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    rng = np.random.default_rng(9)
    b = 64
    state_np = new_state(1, b)
    state_t = torch.from_numpy(state_np.copy())
    for step in range(260):
        mid = rng.normal(size=(b, 1, 1))
        pending = mid + np.array([-1.6, -0.7, 0.0, 0.7, 1.6])[None, None, :]
        obs = rng.normal(size=(b, 1)) * (1 + 4 * (step % 50 == 49))
        times = 1.7e9 + 300.0 * step + np.zeros(b)
        a, state_np = score_batch(AlertPolicy(), levels, pending, obs, state_np, times)
        got, state_t = score_batch(
            AlertPolicy(),
            levels,
            *(torch.from_numpy(v) for v in (pending, obs, state_t.numpy(), times)),
        )
        assert isinstance(got.score, torch.Tensor) and isinstance(state_t, torch.Tensor)
        host = got.on_host()
        np.testing.assert_allclose(host.score, a.score, rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(host.alert, a.alert)
        np.testing.assert_allclose(state_t.numpy(), state_np, rtol=RTOL, atol=ATOL)
    assert scoring.state_size(1) == state_np.shape[1]


@NO_CUDA
def test_cuda_scoring_agrees_with_host_scoring() -> None:
    x, times = mixed_series(500, 12, seed=6)
    host = Detector.from_checkpoint(capacity=12, device="cpu")
    dev = Detector.from_checkpoint(capacity=12, device="cuda")
    assert dev.score_on_device and dev._stats.device.type == "cuda"
    a, b = run(host, x, times), run(dev, x, times)
    # The TCN step in float32 on the GPU differs from the CPU's in its last bits; the
    # bands then differ by that much, and a flag may flip at a threshold's edge.
    for name in ("lower", "upper", "score"):
        got, want = (np.stack([getattr(r, name) for r in rs]) for rs in (b, a))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)
    alerts = [sum(int(r.alert.sum()) for r in rs) for rs in (a, b)]
    assert alerts[0] >= 4 and abs(alerts[0] - alerts[1]) <= 1


def test_an_empty_batch_scored_in_torch_is_a_no_op() -> None:
    det = Detector.from_checkpoint(capacity=3, device="cpu", score_on_device=True)
    before = det.get([0, 1, 2])
    res = det.step(np.array([], dtype=np.int64), np.zeros((0, 1)))
    assert res.score.shape == (0,) and res.lower.shape == (0, 1) and res.opening.shape == (0, 4)
    assert isinstance(res.alert, np.ndarray) and res.direction.dtype == np.int8
    after = det.get([0, 1, 2])
    for a, b in zip(before, after, strict=True):
        assert a.step == b.step and np.array_equal(a.stats, b.stats, equal_nan=True)
