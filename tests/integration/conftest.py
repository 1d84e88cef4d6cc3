"""Session fixtures for integration tests: a real Kafka-protocol broker and a real Redis.

Each service is resolved in this order:

1. ``TCNAD_TEST_KAFKA`` (``host:port``) / ``TCNAD_TEST_REDIS`` (``redis://host:port/0``);
2. testcontainers (Kafka in KRaft mode, Redis) when a Docker daemon answers (unless
   ``TCNAD_TEST_DOCKER=0``);
3. the embedded stack (tansu and redis-server subprocesses, see ``tcnad.topology.devstack.stack``).

When none of them gives a service that answers, the tests that need it fail with the
reasons; they never skip. Every test under ``tests/integration`` gets the ``integration``
marker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tcnad.topology.devstack.stack import KafkaBroker, RedisServer, StackError, kafka_answers

logger = logging.getLogger(__name__)

_HERE = Path(__file__).parent
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
REDIS_IMAGE = "redis:7.2"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


def _docker_answers() -> bool:
    """True when a Docker daemon answers a ping within a few seconds."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (DockerException, OSError) as exc:
        logger.info("no Docker daemon: %s", exc)
        return False


def _redis_url_answers(url: str) -> bool:
    """True when the Redis at ``url`` (credentials included) answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _resolve(
    name: str,
    env_var: str,
    answers: Callable[[str], bool],
    from_docker: Callable[[], tuple[str, Callable[[], None]]],
    embedded: Callable[[], tuple[str, Callable[[], None]]],
) -> Iterator[str]:
    """Yield the first address that answers, trying env override, Docker, embedded."""
    override = os.environ.get(env_var)
    if override:
        if not answers(override):
            pytest.fail(f"{env_var}={override!r} does not answer", pytrace=False)
        yield override
        return
    failures: list[str] = []
    use_docker = os.environ.get("TCNAD_TEST_DOCKER", "1") != "0" and _docker_answers()
    sources = [("docker", from_docker)] if use_docker else []
    sources.append(("embedded", embedded))
    for source, start in sources:
        try:
            address, stop = start()
        except (StackError, OSError, RuntimeError) as exc:
            failures.append(f"{source}: {exc}")
            continue
        logger.info("integration %s from %s at %s", name, source, address)
        try:
            yield address
        finally:
            stop()
        return
    pytest.fail(f"no {name} for integration tests: " + "; ".join(failures), pytrace=False)


def _start_container(container: Any, address: Callable[[], str]) -> tuple[str, Callable[[], None]]:
    """Start a testcontainers container; on failure remove it and raise RuntimeError."""
    from docker.errors import DockerException

    try:
        container.start()
        return address(), container.stop
    except DockerException as exc:
        with contextlib.suppress(DockerException):
            container.stop()
        raise RuntimeError(f"container {container.image} did not start: {exc}") from exc


def _docker_kafka() -> tuple[str, Callable[[], None]]:
    from testcontainers.community.kafka import KafkaContainer

    container: Any = KafkaContainer(KAFKA_IMAGE).with_kraft()
    return _start_container(container, lambda: str(container.get_bootstrap_server()))


def _docker_redis() -> tuple[str, Callable[[], None]]:
    from testcontainers.community.redis import RedisContainer

    container: Any = RedisContainer(REDIS_IMAGE)

    def url() -> str:
        return f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"

    return _start_container(container, url)


def _embedded_kafka(log_dir: Path) -> tuple[str, Callable[[], None]]:
    broker = KafkaBroker(log_dir=log_dir)
    broker.start()
    return broker.bootstrap, broker.stop


def _embedded_redis(log_dir: Path) -> tuple[str, Callable[[], None]]:
    server = RedisServer(log_dir=log_dir)
    server.start()
    return server.url, server.stop


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Kafka-protocol broker for the whole session."""
    log_dir = tmp_path_factory.mktemp("kafka")
    yield from _resolve(
        "Kafka broker",
        "TCNAD_TEST_KAFKA",
        kafka_answers,
        _docker_kafka,
        lambda: _embedded_kafka(log_dir),
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://host:port/0`` of a Redis for the whole session (never the one on 6379)."""
    log_dir = tmp_path_factory.mktemp("redis")
    yield from _resolve(
        "Redis",
        "TCNAD_TEST_REDIS",
        _redis_url_answers,
        _docker_redis,
        lambda: _embedded_redis(log_dir),
    )


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Redis Cluster (3 masters, 3 replicas) on loopback for the whole session; see
    ``tests/integration/redis_cluster.py``."""
    from .redis_cluster import start_cluster

    yield from start_cluster(tmp_path_factory.mktemp("redis-cluster"))


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses (for topics, consumer groups and Redis namespaces)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:40]
    return f"{base}-{uuid.uuid4().hex[:8]}"
