"""When Redis stops answering after the worker started, it retries with backoff, then exits
non-zero without acking the batch; a worker started later against a working Redis applies
every reading. (A Redis that does not answer at start is refused before the worker joins its
group: test_worker_preflight.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.redis_proc import RedisProc

from .worker_harness import (
    Workers,
    assigned,
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


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProc]:
    with RedisProc(tmp_path / "redis") as server:  # stopped by its PID on the way out
        yield server


async def test_store_down_exits_non_zero_and_nothing_is_lost(
    workers: Workers, kafka_bootstrap: str, redis_url: str, own_redis: RedisProc
) -> None:
    from tcnad.detector.engine import Detector

    series = [make_series(f"d{k}", 50, seed=k) for k in range(4)]
    good_redis = workers.env["TCNAD_REDIS_URL"]
    workers.env["TCNAD_REDIS_URL"] = own_redis.url  # answers the start-up check, then stops
    broken = workers.start()
    deadline = time.monotonic() + 120
    while not assigned(broken) and broken.running and time.monotonic() < deadline:
        time.sleep(0.5)
    assert assigned(broken), broken.log_tail(60)
    own_redis.stop()
    await produce(kafka_bootstrap, workers.env["TCNAD_READINGS_TOPIC"], list(interleave(series)))
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
