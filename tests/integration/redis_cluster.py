"""A real Redis Cluster on loopback for the state store's cluster tests: 3 masters and 3
replicas of the same redis-server binary as the rest of the suite (``RedisClusterStack``
of the dev stack), on free ports, every node stopped by PID at the end.

``redis_cluster`` (session, conftest.py) is shared by the tests that only read and write;
a test that kills nodes starts its own with ``start_cluster``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis.asyncio.cluster import RedisCluster

from tcnad.detector.state import StateLayout
from tcnad.state.cluster_store import RedisClusterCacheStore
from tcnad.topology.devstack.cluster import RedisClusterStack
from tests.unit.state.contract import LAYOUT


def start_cluster(log_dir: Path, node_timeout_ms: int = 1000) -> Iterator[RedisClusterStack]:
    """A started 3+3 cluster; stops every node on the way out (a generator for fixtures)."""
    cluster = RedisClusterStack(
        masters=3, replicas=1, log_dir=log_dir, node_timeout_ms=node_timeout_ms
    )
    cluster.start(timeout_s=60.0)
    try:
        yield cluster
    finally:
        cluster.stop()


class ClusterBackend:
    """The contract suite's ``Backend`` on a cluster: stores of one namespace, raw access
    through redis-py's own cluster client."""

    def __init__(self, url: str, masters: int) -> None:
        self.url = url
        self.masters = masters
        self.namespace = f"test-{uuid.uuid4().hex[:12]}"
        self.client = RedisCluster.from_url(url)
        self.stores: list[RedisClusterCacheStore] = []

    def make(self, layout: StateLayout = LAYOUT, **kwargs: Any) -> RedisClusterCacheStore:
        store = RedisClusterCacheStore(self.url, layout, namespace=self.namespace, **kwargs)
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
        for key in keys:
            await self.client.delete(key)
        await self.client.aclose()
