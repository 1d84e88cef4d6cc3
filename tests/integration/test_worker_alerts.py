"""Streams with injected anomalies through a real `tcnad worker`: alerts arrive for the
anomalous streams at their anomalies; clean streams stay quiet after warm-up.

The worker runs the default alert policy except for the warm-up length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .worker_harness import (
    Workers,
    interleave,
    make_series,
    metric,
    produce,
    read_topic,
    scrape,
    topics_for,
    wait_steps,
    worker_env,
)

pytestmark = pytest.mark.timeout(240)

N = 600
SPIKE_AT = 480
ANOMALOUS = [f"hot-{k}" for k in range(3)]
CLEAN = [f"calm-{k}" for k in range(6)]
WARMUP = 200
POLICY = {"TCNAD_ALERT_WARMUP": str(WARMUP)}


@pytest.fixture
def workers(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    env = worker_env(kafka_bootstrap, redis_url, topics_for(unique_name), POLICY)
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


async def test_alerts_for_injected_anomalies_and_none_for_clean_streams(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    from tcnad.detector.engine import Detector

    series = [make_series(s, N, seed=100 + k, spike_at=SPIKE_AT) for k, s in enumerate(ANOMALOUS)]
    series += [make_series(s, N, seed=200 + k) for k, s in enumerate(CLEAN)]
    workers.start()
    await produce(kafka_bootstrap, workers.env["TCNAD_READINGS_TOPIC"], list(interleave(series)))
    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    expected = {s.stream: N for s in series}
    records = await wait_steps(redis_url, workers.env["TCNAD_NAMESPACE"], layout, expected, 150)
    assert {s: r.state.step for s, r in records.items()} == expected, workers.logs()

    code, text = scrape(workers.procs[0])
    assert code == 200 and metric(text, "tcnad_readings_applied_total") == N * len(series)
    assert metric(text, "tcnad_alerts_total") >= len(ANOMALOUS)
    code, health = scrape(workers.procs[0], "/health")
    assert code == 200 and '"status": "ok"' in health, health

    topic = await read_topic(kafka_bootstrap, workers.env["TCNAD_ALERTS_TOPIC"])
    alerts = [a for a in topic if a.get("kind", "alert") == "alert"]  # not resolved records
    ts_index = {(s.stream, t): i for s in series for i, t in enumerate(s.ts)}
    at = {(str(a["stream"]), ts_index[(str(a["stream"]), float(a["ts"]))]) for a in alerts}  # type: ignore[arg-type]
    for stream in ANOMALOUS:
        hits = sorted(i for s, i in at if s == stream)
        assert any(SPIKE_AT <= i <= SPIKE_AT + 2 for i in hits), f"{stream}: alerts at {hits}"
    false = sorted((s, i) for s, i in at if s in CLEAN and i >= WARMUP)
    assert not false, f"clean streams alerted: {false}"
    assert not [(s, i) for s, i in at if i < WARMUP], "alerts during warm-up"
    ids = [str(a["id"]) for a in alerts]
    assert all(i.count(":") >= 2 for i in ids) and len(ids) == len(set(ids))
    for a in alerts:
        assert float(a["lower"][0]) <= float(a["median"][0]) <= float(a["upper"][0])  # type: ignore[index]
        assert a["severity"] > 0 and 0 <= a["score"] <= 1  # type: ignore[operator]
