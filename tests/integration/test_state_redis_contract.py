"""The ``CacheStore`` contract on ``RedisCacheStore`` against a real redis-server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from detector.state import StateLayout
from state import RedisCacheStore
from tests.integration.state_helpers import RedisProc
from tests.unit.state.contract import LAYOUT, CacheStoreContract


@pytest.fixture(scope="module")
def state_redis_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The session ``redis_url`` fixture where the suite provides one, else a private server."""
    try:
        yield str(request.getfixturevalue("redis_url"))
        return
    except pytest.FixtureLookupError:
        pass
    with RedisProc(Path(tmp_path_factory.mktemp("redis"))) as server:
        yield server.url


class RedisBackend:
    def __init__(self, url: str) -> None:
        self.url = url
        self.namespace = f"test-{uuid.uuid4().hex[:12]}"
        self.client = aioredis.Redis.from_url(url)
        self.stores: list[RedisCacheStore] = []

    def make(self, layout: StateLayout = LAYOUT, **kwargs: Any) -> RedisCacheStore:
        store = RedisCacheStore(self.url, layout, namespace=self.namespace, **kwargs)
        self.stores.append(store)
        return store

    def keys(self, stream: str) -> tuple[str, str]:
        return f"{self.namespace}:{{{stream}}}:meta", f"{self.namespace}:{{{stream}}}:rings"

    async def advance(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)

    async def raw(self, stream: str) -> tuple[bytes | None, bytes | None]:
        meta, rings = await self.client.mget(*self.keys(stream))
        return meta, rings

    async def plant(self, stream: str, meta: bytes, rings: bytes) -> None:
        meta_key, rings_key = self.keys(stream)
        await self.client.set(meta_key, meta)
        await self.client.set(rings_key, rings)

    async def close(self) -> None:
        for store in self.stores:
            await store.close()
        keys = [k async for k in self.client.scan_iter(match=f"{self.namespace}:*")]
        if keys:
            await self.client.delete(*keys)
        await self.client.aclose()


class TestRedisStore(CacheStoreContract):
    @pytest.fixture
    async def backend(self, state_redis_url: str) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend(state_redis_url)
        yield backend
        await backend.close()
