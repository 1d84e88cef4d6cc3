"""A real `tcnad worker` started with TCNAD_RING_DTYPE=float16 (the default) on states
stored by a float32 worker, as after an upgrade from a version whose default was float32:
each stream continues from its stored step (a reset would start it again from 0), and its
state is stored in float16 from then on."""

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
K = 300  # the step at which the float32 worker stopped


@pytest.fixture
def workers(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    env = worker_env(kafka_bootstrap, redis_url, topics_for(unique_name))
    env["TCNAD_RING_DTYPE"] = "float16"
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


def continued_in_float16(
    series: list[Series], head: dict[str, StreamState]
) -> dict[str, StreamState]:
    """Each stream's state after its tail, stepped by a float16 Detector from its float32
    state at step K (what the worker should do with the converted state)."""
    import torch

    from tcnad.detector.engine import Detector

    torch.set_num_threads(1)
    det = Detector.from_checkpoint(None, device="cpu", capacity=len(series), ring_dtype="float16")
    slots = np.arange(len(series), dtype=np.int64)
    det.put(slots, [head[s.stream] for s in series])
    for i in range(K, N):
        vals = np.array([[s.values[i]] for s in series], dtype=np.float64)
        det.step(slots, vals, np.array([s.ts[i] for s in series], dtype=np.float64))
    return {s.stream: st for s, st in zip(series, det.get(slots), strict=True)}


async def test_streams_stored_in_float32_continue_under_a_float16_worker(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    from tcnad.detector.engine import Detector

    series = [make_series(f"dt-{k}", N, seed=500 + k) for k in range(3)]
    full = Detector.from_checkpoint(None, device="cpu", capacity=1, ring_dtype="float32").layout
    half = Detector.from_checkpoint(None, device="cpu", capacity=1, ring_dtype="float16").layout
    assert (full.ring_dtype, half.ring_dtype) == ("float32", "float16")
    head_series = [replace(s, ts=s.ts[:K], values=s.values[:K]) for s in series]
    head = reference_states(head_series, ring_dtype="float32")
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
        assert reader.stats.converted == 0 and reader.stats.resets == 0  # stored in float16
    finally:
        await reader.close()
    want = continued_in_float16(series, head)
    # the normalisation's reading count: all N readings, not the tail's N - K
    count = Detector.from_checkpoint(None, device="cpu", capacity=1).stats_layout.field(
        "normalisation", "count"
    )
    for s, r in loaded.records.items():
        assert r.state.stats[count].tolist() == [N], s
        ref = want[s]
        np.testing.assert_allclose(r.state.stats, ref.stats, rtol=1e-3, atol=1e-3, err_msg=s)
        for j, (a, b) in enumerate(zip(r.state.rings, ref.rings, strict=True)):
            np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-2, err_msg=f"{s} ring {j}")
