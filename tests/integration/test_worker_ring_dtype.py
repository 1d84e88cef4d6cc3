"""A real `tcnad worker` started with one ring dtype on states stored by a worker of
another, as after an upgrade from a version with another default (float32, then float16;
now float8_e5m2): each stream continues from its stored step (a reset would start it again
from 0), and its state is stored in the worker's dtype from then on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tcnad.detector.state import StreamState
from tcnad.state.codec import state_delta
from tcnad.state.redis_store import RedisCacheStore
from tcnad.state.types import StreamUpdate

from .worker_harness import (
    Series,
    Workers,
    interleave,
    make_series,
    produce,
    reference_states,
    topics_for,
    wait_steps,
    worker_env,
)

pytestmark = pytest.mark.timeout(240)

N = 600
K = 300  # the step at which the earlier worker stopped
# (stored by, continued by): the upgrades from each earlier default
UPGRADES = [("float32", "float16"), ("float16", "float8_e5m2")]
# How close a ring value comes to the reference's: float8 may round one value the other
# way when the worker's batches differ from the reference's (tests/integration/worker_harness)
RING_RTOL = {"float16": 1e-2, "float8_e5m2": 0.26}


@pytest.fixture(params=UPGRADES, ids=lambda p: f"{p[0]}-to-{p[1]}")
def upgrade(request: pytest.FixtureRequest) -> tuple[str, str]:
    pair: tuple[str, str] = request.param
    return pair


@pytest.fixture
def workers(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    tmp_path: Path,
    upgrade: tuple[str, str],
) -> Iterator[Workers]:
    env = worker_env(kafka_bootstrap, redis_url, topics_for(unique_name))
    env["TCNAD_RING_DTYPE"] = upgrade[1]
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


def continued(
    series: list[Series], head: dict[str, StreamState], ring_dtype: str
) -> dict[str, StreamState]:
    """Each stream's state after its tail, stepped by a Detector of ``ring_dtype`` from its
    stored state at step K (what the worker should do with the converted state)."""
    import torch

    from tcnad.detector.engine import Detector

    torch.set_num_threads(1)
    det = Detector.from_checkpoint(None, device="cpu", capacity=len(series), ring_dtype=ring_dtype)
    slots = np.arange(len(series), dtype=np.int64)
    det.put(slots, [head[s.stream] for s in series])
    for i in range(K, N):
        vals = np.array([[s.values[i]] for s in series], dtype=np.float64)
        det.step(slots, vals, np.array([s.ts[i] for s in series], dtype=np.float64))
    return {s.stream: st for s, st in zip(series, det.get(slots), strict=True)}


async def test_streams_stored_in_another_ring_dtype_continue_under_the_worker(
    workers: Workers, kafka_bootstrap: str, redis_url: str, upgrade: tuple[str, str]
) -> None:
    from tcnad.detector.engine import Detector

    was, now = upgrade
    series = [make_series(f"dt-{k}", N, seed=500 + k) for k in range(3)]
    full = Detector.from_checkpoint(None, device="cpu", capacity=1, ring_dtype=was).layout
    half = Detector.from_checkpoint(None, device="cpu", capacity=1, ring_dtype=now).layout
    assert (full.ring_dtype, half.ring_dtype) == (was, now)
    head_series = [replace(s, ts=s.ts[:K], values=s.values[:K]) for s in series]
    head = reference_states(head_series, ring_dtype=was)
    ns = workers.env["TCNAD_NAMESPACE"]
    planted = RedisCacheStore(redis_url, full, namespace=ns)
    try:
        updates = [
            StreamUpdate(s, state_delta(st, 0), 10**6, head_series[0].ts[-1])
            for s, st in head.items()
        ]
        assert (await planted.save(updates)).saved == [s.stream for s in series]
    finally:
        await planted.close()

    workers.start()
    tail = [replace(s, ts=s.ts[K:], values=s.values[K:]) for s in series]
    await produce(kafka_bootstrap, workers.env["TCNAD_READINGS_TOPIC"], list(interleave(tail)))
    expected = {s.stream: N for s in series}
    records = await wait_steps(redis_url, ns, half, expected, 150)
    assert {s: r.state.step for s, r in records.items()} == expected, workers.logs()

    reader = RedisCacheStore(redis_url, half, namespace=ns)
    try:
        loaded = await reader.load(list(expected))
        assert reader.stats.converted == 0 and reader.stats.resets == 0  # stored as `now`
    finally:
        await reader.close()
    want = continued(series, head, now)
    # the normalisation's reading count: all N readings, not the tail's N - K
    count = Detector.from_checkpoint(None, device="cpu", capacity=1).stats_layout.field(
        "normalisation", "count"
    )
    for s, r in loaded.records.items():
        assert r.state.stats[count].tolist() == [N], s
        ref = want[s]
        np.testing.assert_allclose(r.state.stats, ref.stats, rtol=1e-3, atol=1e-3, err_msg=s)
        for j, (a, b) in enumerate(zip(r.state.rings, ref.rings, strict=True)):
            tol = RING_RTOL[now]
            np.testing.assert_allclose(a, b, rtol=tol, atol=1e-2, err_msg=f"{s} ring {j}")
