"""A worker whose Redis or Kafka does not answer at start exits at once with one line on
stderr; a bad setting is one line and exit code 2; a running worker's /health answers 503
while its Redis is down and 200 once it is back, and 503 for as long as its broker is down
(the worker keeps running through the outage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.integration.redis_proc import RedisProc, free_port

from .worker_harness import REPO, Workers, scrape, topics_for, wait_health, worker_env

pytestmark = pytest.mark.timeout(240)

CLI = (sys.executable, "-m", "tcnad.topology.cli")
FAST_S = 30.0  # "a few seconds" on an idle machine; generous for two busy shared cores
OUTAGE_S = 10.0  # a broker outage spanning several of the worker's 3 s probes


def tcnad(
    argv: list[str], env: Mapping[str, str], timeout_s: float = 60.0
) -> tuple[int, str, str, float]:
    """Run ``tcnad argv``; returns (exit code, stdout, stderr, seconds). ``subprocess.run``
    kills the child (by PID) if it outlives ``timeout_s``."""
    t0 = time.monotonic()
    done = subprocess.run(
        [*CLI, *argv], env=dict(env), cwd=REPO, capture_output=True, text=True, timeout=timeout_s
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - t0


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TCNAD_")}


def test_unreachable_redis_is_one_line_and_a_quick_non_zero_exit(
    kafka_bootstrap: str, unique_name: str
) -> None:
    port = free_port()  # nothing listens here
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    env = worker_env(kafka_bootstrap, url, topics_for(unique_name))
    code, _, err, took = tcnad(["worker"], env)
    assert code == 3, err
    assert err == (
        f"tcnad worker: Redis at redis://:***@127.0.0.1:{port}/0 is unreachable "
        "(Connection refused); check TCNAD_REDIS_URL / --redis-url\n"
    )
    assert took < FAST_S, took


def test_unreachable_kafka_is_one_line_and_a_quick_non_zero_exit(
    redis_url: str, unique_name: str
) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    env = worker_env(bootstrap, redis_url, topics_for(unique_name))
    code, _, err, took = tcnad(["worker"], env)
    assert code == 3, err
    assert err == (
        f"tcnad worker: Kafka at {bootstrap} is unreachable (Connection refused); "
        "check TCNAD_KAFKA_BOOTSTRAP / --bootstrap\n"
    )
    assert took < FAST_S, took


def test_a_port_that_is_no_kafka_broker_is_named_too(redis_url: str, unique_name: str) -> None:
    redis_port = redis_url.rsplit(":", 1)[1].split("/")[0]
    bootstrap = f"127.0.0.1:{redis_port}"  # a Redis answers there, not Kafka
    env = worker_env(bootstrap, redis_url, topics_for(unique_name))
    code, _, err, _ = tcnad(["worker"], env)
    assert code == 3, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"tcnad worker: Kafka at {bootstrap} answers no Kafka metadata"), err


def test_a_bad_variable_fails_even_help_in_one_line() -> None:
    env = clean_env() | {"TCNAD_PARTITIONS": "abc"}
    code, out, err, _ = tcnad(["--help"], env)
    assert code == 2 and out == ""
    assert err == (
        "tcnad: TCNAD_PARTITIONS='abc' is not valid: "
        "Input should be a valid integer, unable to parse string as an integer\n"
    )


def test_a_redis_url_without_scheme_is_one_line() -> None:
    code, out, err, _ = tcnad(["worker", "--redis-url", "localhost:6379"], clean_env())
    assert code == 2 and out == ""
    assert err == (
        "tcnad worker: --redis-url='localhost:6379' is not valid: must be a redis://, "
        "rediss:// or unix:// URL, e.g. redis://127.0.0.1:6379/0\n"
    )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProc]:
    with RedisProc(tmp_path / "redis") as server:  # stopped by its PID on the way out
        yield server


@pytest.fixture
def workers(
    kafka_bootstrap: str, own_redis: RedisProc, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    w = Workers(worker_env(kafka_bootstrap, own_redis.url, topics_for(unique_name)), tmp_path)
    yield w
    w.stop_all()


def test_health_is_503_while_redis_is_down_and_200_once_it_is_back(
    workers: Workers, own_redis: RedisProc
) -> None:
    workers.start()
    body = wait_health(workers.procs[0], 200, 150)
    assert body["status"] == "ok" and body["unreachable"] is None

    own_redis.stop()
    body = wait_health(workers.procs[0], 503, 30)
    assert body["status"] == "unreachable", body
    assert body["unreachable"] == {"redis": "Connection refused"}, body
    assert "redis unreachable" in str(body["error"])
    _, text = scrape(workers.procs[0], "/metrics")
    assert 'tcnad_dependency_up{dependency="redis"} 0.0' in text
    assert 'tcnad_dependency_up{dependency="kafka"} 1.0' in text

    own_redis.start()
    body = wait_health(workers.procs[0], 200, 30)
    assert body["status"] == "ok" and body["unreachable"] is None
    _, text = scrape(workers.procs[0], "/metrics")
    assert 'tcnad_dependency_up{dependency="redis"} 1.0' in text
    log = workers.procs[0].log_tail(10_000)
    assert "redis unreachable: Connection refused" in log and "redis reachable again" in log


def test_health_is_503_while_the_broker_is_down(
    redis_url: str, unique_name: str, tmp_path: Path
) -> None:
    from tcnad.topology.devstack.stack import KafkaBroker

    broker = KafkaBroker(log_dir=tmp_path)  # this test's own, so it can stop it
    broker.start()
    workers = Workers(worker_env(broker.bootstrap, redis_url, topics_for(unique_name)), tmp_path)
    try:
        workers.start()
        assert wait_health(workers.procs[0], 200, 150)["status"] == "ok"
        broker.stop()
        body = wait_health(workers.procs[0], 503, 30)
        assert body["status"] == "unreachable" and "kafka" in dict(body["unreachable"]), body
        # The outage goes on: the worker keeps running and answering 503 naming kafka, while
        # its Kafka client logs a reconnect error every 100 ms.
        until = time.monotonic() + OUTAGE_S
        while time.monotonic() < until:
            assert workers.procs[0].running, workers.logs(60)
            code, text = scrape(workers.procs[0], "/health")
            assert code == 503 and "kafka" in dict(json.loads(text)["unreachable"]), text
            time.sleep(0.5)
    finally:
        workers.stop_all()
        broker.stop()
