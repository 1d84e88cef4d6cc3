"""The worker's start-up checks say in one line what is unreachable and why; its probes keep
``/health`` at 503 while a dependency does not answer."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tcnad.state.errors import StoreUnavailable
from tcnad.topology.worker.checks import (
    DependencyProbe,
    kafka_servers,
    reason,
    redis_line,
    redis_ping,
)
from tcnad.topology.worker.metrics import Health

URL = "redis://:hunter2@redis:6379/0"


def caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def test_a_socket_error_is_told_by_the_os_reason() -> None:
    refused = OSError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 1)")
    assert reason(refused, 5) == "Connection refused"
    wrapped = caused(RedisConnectionError("Error 111 connecting to redis:6379."), refused)
    assert reason(wrapped, 5) == "Connection refused"
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert reason(unknown, 5) == "Name or service not known"
    assert reason(asyncio.TimeoutError(), 2.5) == "no answer within 2.5 s"
    assert reason(RedisTimeoutError("Timeout connecting to server"), 5) == "no answer within 5 s"
    assert reason(ValueError("odd\n  thing"), 5) == "odd thing"


def test_redis_lines_name_the_redacted_address_and_the_setting() -> None:
    refused = caused(RedisConnectionError("x"), ConnectionRefusedError(errno.ECONNREFUSED, "x"))
    assert redis_line(URL, refused, 5) == (
        "Redis at redis://:***@redis:6379/0 is unreachable (Connection refused); "
        "check TCNAD_REDIS_URL / --redis-url"
    )
    auth = AuthenticationError("invalid username-password pair or user is disabled.")
    line = redis_line(URL, StoreUnavailable("check", [], auth), 5)
    assert line == (
        "Redis at redis://:***@redis:6379/0 refused the worker (invalid username-password "
        "pair or user is disabled.); check TCNAD_REDIS_URL / --redis-url"
    )
    assert "hunter2" not in line


def test_bootstrap_servers_split_into_host_and_port() -> None:
    assert kafka_servers("k1:9092,[::1]:9093") == [("k1", 9092), ("::1", 9093)]


async def test_the_probe_marks_a_dependency_down_and_clears_it_when_it_answers() -> None:
    health = Health()
    answers = {"redis": False}

    async def ping() -> None:
        if not answers["redis"]:
            raise RedisConnectionError("x") from ConnectionRefusedError(errno.ECONNREFUSED, "x")

    async def hangs() -> None:
        await asyncio.sleep(10)

    probe = DependencyProbe(health, {"redis": ping, "kafka": hangs}, timeout_s=0.05)
    assert await probe.probe_once() == {
        "redis": "Connection refused",
        "kafka": "no answer within 0.05 s",
    }
    code, body = health.snapshot()
    assert code == 503 and body["status"] == "unreachable"
    assert body["unreachable"] == {
        "redis": "Connection refused",
        "kafka": "no answer within 0.05 s",
    }
    assert body["error"] == (
        "redis unreachable: Connection refused; kafka unreachable: no answer within 0.05 s"
    )

    answers["redis"] = True
    probe.checks["kafka"] = ping
    assert await probe.probe_once() == {}
    code, body = health.snapshot()
    assert code == 200 and body["status"] == "ok" and body["unreachable"] is None


def test_a_failed_worker_stays_failed_whatever_the_probes_say() -> None:
    health = Health(failed="StoreGaveUp: state load failed 3 times", down={"redis": "x"})
    code, body = health.snapshot()
    assert code == 503 and body["status"] == "failed" and body["error"].startswith("StoreGave")


async def test_redis_is_probed_only_through_a_store_with_a_client() -> None:
    from tcnad.detector.state import StateLayout
    from tcnad.state.memory import MemoryCacheStore
    from tcnad.state.redis_store import RedisCacheStore

    layout = StateLayout(((4, 1),), 8, "m")
    assert redis_ping(MemoryCacheStore(layout)) is None
    store = RedisCacheStore("redis://127.0.0.1:1/0", layout)
    try:
        assert redis_ping(store) == store.client.ping
    finally:
        await store.close()


def test_the_worker_checks_before_it_loads_the_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    cli = importlib.import_module("tcnad.topology.cli.main")
    from tcnad.topology.worker import app
    from tcnad.topology.worker import checks as preflight

    def no_model(settings: object) -> None:
        raise AssertionError("the model was loaded before the check failed")

    monkeypatch.setattr(app, "load_detector", no_model)
    monkeypatch.setattr(
        preflight, "check_reachable", lambda s: "Kafka at k:1 is unreachable (Connection refused)"
    )
    assert cli.main(["worker", "--bootstrap", "k:1"]) == preflight.UNREACHABLE
    assert capsys.readouterr().err == (
        "tcnad worker: Kafka at k:1 is unreachable (Connection refused)\n"
    )


def test_repeated_kafka_client_errors_are_logged_once_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from tcnad.topology.worker.checks import RepeatFilter

    now = [0.0]
    flt = RepeatFilter(30.0, clock=lambda: now[0])
    log = logging.getLogger("aiokafka.conn")
    log.addFilter(flt)
    try:
        with caplog.at_level(logging.ERROR, logger="aiokafka.conn"):
            for _ in range(50):  # 5 s of reconnect errors, one every 100 ms
                log.error("Unable connect to node with id %s: %s", 1, "refused")
                now[0] += 0.1
            log.error("Unable to update metadata from %s", [1])  # another kind: not held
            now[0] = 31.0
            log.error("Unable connect to node with id %s: %s", 1, "refused")
    finally:
        log.removeFilter(flt)
    got = [r.getMessage() for r in caplog.records if r.name == "aiokafka.conn"]
    assert got == [
        "Unable connect to node with id 1: refused",
        "Unable to update metadata from [1]",
        "Unable connect to node with id 1: refused (49 more like this held back in 31 s)",
    ]
