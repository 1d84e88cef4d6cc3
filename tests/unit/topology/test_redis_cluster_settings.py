"""TCNAD_REDIS_CLUSTER and the WAIT settings: parsing, defaults, and the store they build."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tcnad.state.cluster_store import RedisClusterCacheStore
from tcnad.state.redis_store import RedisCacheStore
from tcnad.topology.settings import Settings
from tcnad.topology.worker.app import create_store
from tests.state_fixtures import reference_layout


def test_cluster_mode_waits_for_one_replica_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TCNAD_REDIS_CLUSTER", "1")
    assert Settings().redis_cluster and Settings().wait_replicas() == 1
    monkeypatch.setenv("TCNAD_REDIS_WAIT_REPLICAS", "0")
    assert Settings().wait_replicas() == 0
    monkeypatch.setenv("TCNAD_REDIS_WAIT_REPLICAS", "2")
    monkeypatch.setenv("TCNAD_REDIS_WAIT_TIMEOUT_MS", "250")
    s = Settings()
    assert (s.wait_replicas(), s.redis_wait_timeout_ms) == (2, 250)


def test_a_single_redis_does_not_wait_and_refuses_wait_replicas() -> None:
    assert Settings().wait_replicas() == 0
    with pytest.raises(ValidationError, match="redis_cluster only"):
        Settings(redis_wait_replicas=1)
    with pytest.raises(ValidationError, match="redis:// or rediss://"):
        Settings(redis_cluster=True, redis_url="unix:///run/redis.sock")
    with pytest.raises(ValidationError):
        Settings(redis_cluster=True, redis_wait_timeout_ms=0)


async def test_create_store_builds_the_cluster_store_with_the_wait_settings() -> None:
    layout = reference_layout()
    plain = create_store(Settings(), layout)
    assert type(plain) is RedisCacheStore
    await plain.close()
    s = Settings(
        redis_cluster=True,
        redis_url="redis://:secret@127.0.0.1:1/0",
        redis_wait_timeout_ms=300,
        namespace="ns",
    )
    store = create_store(s, layout)
    assert isinstance(store, RedisClusterCacheStore)
    assert (store.wait_replicas, store.wait_timeout_ms, store.namespace) == (1, 300, "ns")
    # every node's client carries the URL's password
    assert store._client("10.0.0.7:7001").connection_pool.connection_kwargs["password"] == "secret"
    await store.close()


def test_the_cluster_store_rejects_a_wait_that_would_block_forever() -> None:
    with pytest.raises(ValueError, match="wait_timeout_ms"):
        RedisClusterCacheStore("redis://127.0.0.1:1/0", reference_layout(), wait_timeout_ms=0)
    with pytest.raises(ValueError, match="wait_replicas"):
        RedisClusterCacheStore("redis://127.0.0.1:1/0", reference_layout(), wait_replicas=-1)
