"""Exactly-once application under rebalancing and crashes, with real `tcnad worker`
processes, a real broker and a real Redis.

Every stream's final stored state must equal the state of one uninterrupted pass of the
Detector over the same readings: a reading applied twice or lost changes the step count
and the state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from .worker_harness import (
    Series,
    Workers,
    assert_same_state,
    assigned,
    interleave,
    make_series,
    metric,
    produce,
    reference_states,
    scrape,
    stored,
    topics_for,
    wait_steps,
    worker_env,
)

pytestmark = pytest.mark.timeout(240)

N_STREAMS = 24
N_READINGS = 240


@pytest.fixture
def workers(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    t = topics_for(unique_name)
    env = worker_env(kafka_bootstrap, redis_url, t, {"TCNAD_BATCH_MAX_SIZE": "400"})
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


def _series() -> list[Series]:
    return [make_series(f"m{k:02d}", N_READINGS, seed=k) for k in range(N_STREAMS)]


def _alive(workers: Workers) -> None:
    dead = [p for p in workers.procs if not p.running and p.returncode not in (None, -9)]
    assert not dead, f"a worker exited: {[p.returncode for p in dead]}\n{workers.logs()}"


async def _check_equal(workers: Workers, redis_url: str, series: list[Series]) -> None:
    from tcnad.detector.engine import Detector

    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    t = workers.env
    expected = {s.stream: len(s.values) for s in series}
    records = await wait_steps(
        redis_url, t["TCNAD_NAMESPACE"], layout, expected, 120.0, lambda: _alive(workers)
    )
    steps = {s: (records[s].state.step if s in records else None) for s in expected}
    assert steps == expected, f"steps differ\n{workers.logs()}"
    reference = reference_states(series)
    for s in series:
        assert_same_state(records[s.stream].state, reference[s.stream], s.stream)
        assert records[s.stream].offset >= 0


async def _wait_some_applied(workers: Workers, redis_url: str, streams: list[str]) -> None:
    from tcnad.detector.engine import Detector

    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    for _ in range(120):
        _alive(workers)
        recs = await stored(redis_url, workers.env["TCNAD_NAMESPACE"], layout, streams)
        if sum(r.state.step for r in recs.values()) > 0:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"no reading applied within 60 s\n{workers.logs()}")


async def test_two_workers_and_a_third_joining_apply_every_reading_once(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    series = _series()
    messages = list(interleave(series))
    topic = workers.env["TCNAD_READINGS_TOPIC"]
    third = len(messages) // 3
    await produce(kafka_bootstrap, topic, messages[:third])
    workers.start()
    workers.start()
    await _wait_some_applied(workers, redis_url, [s.stream for s in series])
    third_worker = workers.start()
    # Keep readings coming until the third worker owns partitions, then send the rest.
    sent = third
    while not assigned(third_worker) and sent < 2 * third:
        await produce(kafka_bootstrap, topic, messages[sent : sent + 40])
        sent += 40
        await asyncio.sleep(0.2)
    for _ in range(150):
        if assigned(third_worker):
            break
        _alive(workers)
        await asyncio.sleep(0.2)
    assert assigned(third_worker), workers.logs()
    await produce(kafka_bootstrap, topic, messages[sent:], rate=1500)
    await _check_equal(workers, redis_url, series)
    applied = [metric(scrape(p)[1], "tcnad_readings_applied_total") for p in workers.procs]
    assert sum(applied) >= len(messages) and all(a > 0 for a in applied), applied
    assert "revoked=[" in workers.procs[0].log_tail(10_000)


async def test_a_worker_killed_mid_stream_and_restarted_loses_and_repeats_nothing(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    series = _series()
    messages = list(interleave(series))
    topic = workers.env["TCNAD_READINGS_TOPIC"]
    half = len(messages) // 2
    first = workers.start()
    await produce(kafka_bootstrap, topic, messages[:half])
    await _wait_some_applied(workers, redis_url, [s.stream for s in series])
    producing = asyncio.ensure_future(produce(kafka_bootstrap, topic, messages[half:], rate=1500))
    await asyncio.sleep(1.0)
    first.kill()  # SIGKILL: no commit, no goodbye
    assert first.returncode == -9
    await producing
    workers.start()
    await _check_equal(workers, redis_url, series)
