"""A real `tcnad worker`: a spike's alert is followed on the alerts topic by one resolved
record with the alert's id once the stream is back in its band; and a worker of this
version picks up states stored by a worker of the previous stats layout (205 floats, before
the open alert was kept) where they stopped, instead of starting those streams afresh.

The worker runs the default alert policy except for the warm-up length."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tcnad.detector.state import StateLayout
from tcnad.state.codec import state_delta
from tcnad.state.redis_store import RedisCacheStore
from tcnad.state.types import StreamUpdate

from .worker_harness import (
    RING_TOLERANCE,
    TOLERANCE,
    Series,
    Workers,
    interleave,
    make_series,
    produce,
    read_topic,
    reference_states,
    topics_for,
    wait_steps,
    worker_env,
)

pytestmark = pytest.mark.timeout(240)

N = 600
SPIKE_AT = 480
COOLDOWN = 30  # the default: in-band readings that end (and resolve) an incident
WARMUP = 200
POLICY = {"TCNAD_ALERT_WARMUP": str(WARMUP)}
PREVIOUS_STATS = 205  # the shipped model's stats before the open alert's slice


@pytest.fixture
def workers(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    env = worker_env(kafka_bootstrap, redis_url, topics_for(unique_name), POLICY)
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


def _by_kind(records: list[dict[str, object]]) -> tuple[list[dict], list[dict]]:
    alerts = [r for r in records if r.get("kind", "alert") == "alert"]
    resolved = [r for r in records if r.get("kind") == "resolved"]
    assert len(alerts) + len(resolved) == len(records)
    return alerts, resolved


def _check_lifecycle(series: list[Series], records: list[dict[str, object]]) -> None:
    """Every alert of a spiked stream is resolved exactly once, by a later record of its
    stream, ``readings`` after it; and the spike raised one of them."""
    alerts, resolved = _by_kind(records)
    index = {(s.stream, t): i for s in series for i, t in enumerate(s.ts)}
    for s in series:
        mine = [a for a in alerts if a["stream"] == s.stream]
        done = [r for r in resolved if r["stream"] == s.stream]
        at = sorted(index[(s.stream, float(a["ts"]))] for a in mine)  # type: ignore[arg-type]
        assert any(SPIKE_AT <= i <= SPIKE_AT + 2 for i in at), f"{s.stream}: alerts at {at}"
        assert sorted(str(r["id"]) for r in done) == sorted(str(a["id"]) for a in mine)
        order = [(str(r.get("kind", "alert")), str(r["id"])) for r in records if r in mine + done]
        for a in mine:
            opened = order.index(("alert", str(a["id"])))
            closed = order.index(("resolved", str(a["id"])))
            assert opened < closed, f"{s.stream}: resolved before its alert"
            r = next(r for r in done if r["id"] == a["id"])
            start = index[(s.stream, float(a["ts"]))]  # type: ignore[arg-type]
            end = index[(s.stream, float(r["ts"]))]  # type: ignore[arg-type]
            assert r["readings"] == end - start + 1 >= COOLDOWN + 1
            assert r["severity"] == a["severity"] and r["model_id"] == a["model_id"]
            assert r["partition"] == a["partition"] and int(r["offset"]) > int(a["offset"])  # type: ignore[call-overload]


async def test_a_spikes_alert_is_followed_by_its_resolved_record(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    from tcnad.detector.engine import Detector

    series = [make_series(f"hot-{k}", N, seed=100 + k, spike_at=SPIKE_AT) for k in range(2)]
    workers.start()
    await produce(kafka_bootstrap, workers.env["TCNAD_READINGS_TOPIC"], list(interleave(series)))
    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    expected = {s.stream: N for s in series}
    records = await wait_steps(redis_url, workers.env["TCNAD_NAMESPACE"], layout, expected, 150)
    assert {s: r.state.step for s, r in records.items()} == expected, workers.logs()
    got = await read_topic(kafka_bootstrap, workers.env["TCNAD_ALERTS_TOPIC"])
    _check_lifecycle(series, got)
    # what the worker stored is what the alerts say: no incident is left open
    opened = Detector.from_checkpoint(None, device="cpu", capacity=1).stats_layout
    for r in records.values():
        assert r.state.stats[opened.field("opened", "open")][0] == 0.0


async def test_states_of_the_previous_layout_continue_where_they_stopped(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    """States planted as the previous version's worker stored them, at step K: the worker
    applies the rest of each stream to them, ending at step N (a reset would end at N - K)
    with the state of one uninterrupted pass, and the spike after the upgrade is alerted
    and resolved."""
    from tcnad.detector.engine import Detector

    k_steps = 300
    series = [make_series(f"up-{k}", N, seed=300 + k) for k in range(3)]
    series.append(make_series("up-hot", N, seed=400, spike_at=SPIKE_AT))
    det = Detector.from_checkpoint(None, device="cpu", capacity=1)
    layout = det.layout
    old = StateLayout(layout.ring_shapes, PREVIOUS_STATS, layout.model_id, layout.ring_dtype)
    assert layout.stats_size == PREVIOUS_STATS + 5 and [o.stats_size for o in layout.older] == [
        PREVIOUS_STATS
    ]
    head = [replace(s, ts=s.ts[:k_steps], values=s.values[:k_steps]) for s in series]
    ns = workers.env["TCNAD_NAMESPACE"]
    planted = RedisCacheStore(redis_url, old, namespace=ns)
    try:
        updates = []
        for s, st in reference_states(head).items():
            assert st.step == k_steps
            prev = replace(st, stats=st.stats[:PREVIOUS_STATS])
            # the previous worker's position: its last reading's time (offsets of an older
            # topic, unknown source)
            updates.append(StreamUpdate(s, state_delta(prev, 0), 10**6, head[0].ts[-1]))
        assert (await planted.save(updates)).saved == [s.stream for s in series]
    finally:
        await planted.close()
    tail = [replace(s, ts=s.ts[k_steps:], values=s.values[k_steps:]) for s in series]
    workers.start()
    await produce(kafka_bootstrap, workers.env["TCNAD_READINGS_TOPIC"], list(interleave(tail)))
    expected = {s.stream: N for s in series}
    records = await wait_steps(redis_url, ns, layout, expected, 150)
    assert {s: r.state.step for s, r in records.items()} == expected, workers.logs()
    want = reference_states(series)
    rtol, atol = TOLERANCE[layout.ring_dtype]
    for s, r in records.items():
        np.testing.assert_allclose(
            r.state.stats[:PREVIOUS_STATS], want[s].stats[:PREVIOUS_STATS], rtol=rtol, atol=atol
        )
        ring_rtol, ring_atol = RING_TOLERANCE[layout.ring_dtype]
        for a, b in zip(r.state.rings, want[s].rings, strict=True):
            np.testing.assert_allclose(a, b, rtol=ring_rtol, atol=ring_atol)
    got = await read_topic(kafka_bootstrap, workers.env["TCNAD_ALERTS_TOPIC"])
    assert {str(r["stream"]) for r in got} == {"up-hot"}
    _check_lifecycle([s for s in series if s.stream == "up-hot"], got)
