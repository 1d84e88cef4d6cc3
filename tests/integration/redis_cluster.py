"""A real Redis Cluster on loopback for the state store's cluster tests: 3 masters and 3
replicas of the same redis-server binary as the rest of the suite (``RedisClusterStack``
of the dev stack), on free ports, every node stopped by PID at the end.

``redis_cluster`` (session, conftest.py) is shared by the tests that only read and write;
a test that kills nodes starts its own with ``start_cluster``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis.asyncio.cluster import RedisCluster

from tcnad.state.cluster_store import RedisClusterCacheStore
from tcnad.topology.devstack.cluster import RedisClusterStack
from tests.integration.store_backend import RedisBackend


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


class ClusterBackend(RedisBackend):
    """The contract suite's ``Backend`` on a cluster: raw access through redis-py's own
    cluster client, keys removed one by one (each command may touch one slot only)."""

    store_cls = RedisClusterCacheStore

    def __init__(self, url: str, masters: int) -> None:
        super().__init__(url)
        self.masters = masters

    def connect(self, url: str) -> Any:
        return RedisCluster.from_url(url)

    async def delete(self, keys: list[Any]) -> None:
        for key in keys:
            await self.client.delete(key)
