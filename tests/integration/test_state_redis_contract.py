"""The ``CacheStore`` contract on ``RedisCacheStore`` against the shared real Redis
(``redis_url`` fixture); each test works in its own namespace and removes its keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tcnad.detector.state import StateLayout
from tcnad.state import RedisCacheStore
from tests.unit.state.contract import LAYOUT, CacheStoreContract


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
    async def backend(self, redis_url: str) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend(redis_url)
        yield backend
        await backend.close()
