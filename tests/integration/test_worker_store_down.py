"""When Redis does not answer, a worker retries with backoff, then exits non-zero without
acking the batch; a worker started later against a working Redis applies every reading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tcnad.topology.devstack.stack import free_port

from .worker_harness import (
    Workers,
    interleave,
    make_series,
    produce,
    topics_for,
    wait_steps,
    worker_env,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def workers(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    env = worker_env(kafka_bootstrap, redis_url, topics_for(unique_name))
    env.update(TCNAD_STORE_RETRIES="2", TCNAD_STORE_BACKOFF_S="0.2")
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


async def test_store_down_exits_non_zero_and_nothing_is_lost(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    from tcnad.detector.engine import Detector

    series = [make_series(f"d{k}", 50, seed=k) for k in range(4)]
    await produce(kafka_bootstrap, workers.env["TCNAD_READINGS_TOPIC"], list(interleave(series)))
    good_redis = workers.env["TCNAD_REDIS_URL"]
    workers.env["TCNAD_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    broken = workers.start()
    code = broken.wait(timeout=120)
    log = broken.log_tail(200)
    assert code != 0, log
    assert "state load failed 3 times" in log, log

    workers.env["TCNAD_REDIS_URL"] = good_redis
    workers.start()
    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    expected = {s.stream: 50 for s in series}
    records = await wait_steps(good_redis, workers.env["TCNAD_NAMESPACE"], layout, expected, 90)
    assert {s: r.state.step for s, r in records.items()} == expected, workers.logs()
