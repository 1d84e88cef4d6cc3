"""The contract suite's ``Backend`` (tests/unit/state/contract.py) on a real Redis: stores
of one namespace, raw access through redis-py, every key of the namespace removed at the
end. ``redis_cluster.ClusterBackend`` is the same on a Redis Cluster."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis

from tcnad.detector.state import StateLayout
from tcnad.state import RedisCacheStore
from tests.unit.state.contract import LAYOUT


class RedisBackend:
    store_cls: type[RedisCacheStore] = RedisCacheStore

    def __init__(self, url: str) -> None:
        self.url = url
        self.namespace = f"test-{uuid.uuid4().hex[:12]}"
        self.client = self.connect(url)
        self.stores: list[RedisCacheStore] = []

    def connect(self, url: str) -> Any:
        """The client for raw access."""
        return aioredis.Redis.from_url(url)

    def make(self, layout: StateLayout = LAYOUT, **kwargs: Any) -> RedisCacheStore:
        store = self.store_cls(self.url, layout, namespace=self.namespace, **kwargs)
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

    async def delete(self, keys: list[Any]) -> None:
        await self.client.delete(*keys)

    async def close(self) -> None:
        for store in self.stores:
            await store.close()
        keys = [k async for k in self.client.scan_iter(match=f"{self.namespace}:*")]
        if keys:
            await self.delete(keys)
        await self.client.aclose()
