"""The ``CacheStore`` contract on ``RedisCacheStore`` against the shared real Redis
(``redis_url`` fixture); each test works in its own namespace and removes its keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.store_backend import RedisBackend
from tests.unit.state.contract import CacheStoreContract


class TestRedisStore(CacheStoreContract):
    @pytest.fixture
    async def backend(self, redis_url: str) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend(redis_url)
        yield backend
        await backend.close()
