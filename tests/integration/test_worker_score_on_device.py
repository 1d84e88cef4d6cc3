"""A real `tcnad worker` that scores in torch (TCNAD_SCORE_ON_DEVICE=true, as on a GPU; here
on the CPU, which exercises the same code): its streams' stats live in a tensor, and they
still reach Redis, come back from it after the worker is SIGKILLed mid-stream, and end equal
to the one-process numpy reference; the anomalous streams alert at their spikes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from .worker_harness import (
    Workers,
    assert_same_state,
    interleave,
    make_series,
    produce,
    read_topic,
    reference_states,
    stored,
    topics_for,
    wait_steps,
    worker_env,
)

pytestmark = pytest.mark.timeout(300)

N = 500
SPIKE_AT = 420
STREAMS = 6  # the first two with a spike


@pytest.fixture
def workers(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    env = worker_env(kafka_bootstrap, redis_url, topics_for(unique_name))
    env["TCNAD_SCORE_ON_DEVICE"] = "true"
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


async def test_a_worker_scoring_in_torch_survives_a_kill_and_matches_the_reference(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    from tcnad.detector.engine import Detector

    series = [
        make_series(f"dev-{k}", N, seed=700 + k, spike_at=SPIKE_AT if k < 2 else None)
        for k in range(STREAMS)
    ]
    messages = list(interleave(series))
    topic, ns = workers.env["TCNAD_READINGS_TOPIC"], workers.env["TCNAD_NAMESPACE"]
    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    first = workers.start()
    half = len(messages) // 2
    await produce(kafka_bootstrap, topic, messages[:half])
    for _ in range(120):  # until the first worker has saved something
        got = await stored(redis_url, ns, layout, [s.stream for s in series])
        if got:
            break
        await asyncio.sleep(0.5)
    assert got, workers.logs()
    assert "scoring=cpu" in first.log_tail(10_000), first.log_tail(40)
    producing = asyncio.ensure_future(produce(kafka_bootstrap, topic, messages[half:], rate=1500))
    await asyncio.sleep(1.0)
    first.kill()  # SIGKILL: no commit, no goodbye
    await producing
    workers.start()
    expected = {s.stream: N for s in series}
    records = await wait_steps(redis_url, ns, layout, expected, 180)
    assert {s: r.state.step for s, r in records.items()} == expected, workers.logs()
    want = reference_states(series)
    for s in series:
        assert_same_state(records[s.stream].state, want[s.stream], s.stream)
    topic_alerts = await read_topic(kafka_bootstrap, workers.env["TCNAD_ALERTS_TOPIC"])
    alerted = {str(a["stream"]) for a in topic_alerts if a.get("kind", "alert") == "alert"}
    assert {"dev-0", "dev-1"} <= alerted, topic_alerts
