"""``RedisClusterCacheStore`` on a real Redis Cluster (3 masters, 3 replicas, loopback):
the ``CacheStore`` contract, slots that move while the store holds the old map (ASK, then
MOVED), and saves that wait for replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis

from tcnad.state import StoreUnavailable
from tcnad.state.cluster_store import ShortWait
from tcnad.topology.devstack.cluster import RedisClusterStack
from tests.state_fixtures import synthetic_update
from tests.unit.state.contract import LAYOUT, CacheStoreContract, assert_state

from .redis_cluster import ClusterBackend


@pytest.fixture
async def backend(redis_cluster: RedisClusterStack) -> AsyncIterator[ClusterBackend]:
    backend = ClusterBackend(redis_cluster.url, masters=3)
    yield backend
    await backend.close()


class TestRedisClusterStore(CacheStoreContract):
    pass


def _node_clients(cluster: RedisClusterStack) -> dict[str, redis.Redis]:
    return {f"127.0.0.1:{n.port}": n.client() for n in cluster.masters()}


def _node_id(client: redis.Redis) -> str:
    return str(client.execute_command("CLUSTER", "MYID"))


async def test_a_slot_moving_under_the_store_is_followed_by_ask_then_moved(
    backend: ClusterBackend, redis_cluster: RedisClusterStack
) -> None:
    """A stream's slot migrates to another master while the store holds the old map: once
    its keys have moved, a save gets ASK from the old owner and is sent, after ASKING, to
    the importing master; once the slot is handed over, the next save gets MOVED, reads
    the map again and lands on the new owner. Each redirect is counted."""
    store = backend.make()
    await store.save([synthetic_update(LAYOUT, f"warm{i}", 0, 1) for i in range(30)])
    stream = "moving"
    meta_key, rings_key = backend.keys(stream)
    assert (await store.save([synthetic_update(LAYOUT, stream, 0, 2)])).saved == [stream]
    clients = _node_clients(redis_cluster)
    slot = store.cluster.keyslot(meta_key)
    src_name = store._owner(stream)
    dst_name = next(n for n in clients if n != src_name)
    src, dst = clients[src_name], clients[dst_name]
    try:
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", _node_id(src))
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", _node_id(dst))
        host, _, port = dst_name.rpartition(":")
        src.execute_command("MIGRATE", host, port, "", 0, 5000, "KEYS", meta_key, rings_key)
        trips = dict(store.stats.node_round_trips)
        assert (await store.save([synthetic_update(LAYOUT, stream, 2, 3)])).saved == [stream]
        assert store.stats.redirects == 1  # ASK
        assert store.stats.node_round_trips[dst_name] > trips.get(dst_name, 0)
        for client in clients.values():
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", _node_id(dst))
        assert store._owner(stream) == src_name  # the store's map is still the old one
        assert (await store.save([synthetic_update(LAYOUT, stream, 3, 5)])).saved == [stream]
        assert store.stats.redirects == 2  # MOVED
        assert store._owner(stream) == dst_name
        assert_state((await store.load([stream])).records[stream], LAYOUT, stream, 5)
        assert store.stats.redirects == 2
    finally:
        for client in clients.values():
            client.close()


async def test_a_save_with_fewer_replicas_than_asked_fails_and_its_retry_succeeds(
    backend: ClusterBackend,
) -> None:
    """Every master has one replica: a store that asks for two fails its save with
    StoreUnavailable (WAIT came back short) after the writes were made on the masters; the
    same save by a store that asks for one is then reported saved (already applied), and a
    later save goes on from it."""
    streams = [f"w{i}" for i in range(12)]
    greedy = backend.make(wait_replicas=2, wait_timeout_ms=100)
    updates = [synthetic_update(LAYOUT, s, 0, 3) for s in streams]
    with pytest.raises(StoreUnavailable) as info:
        await greedy.save(updates)
    assert isinstance(info.value.cause, ShortWait)
    assert set(info.value.streams) == set(streams)
    assert greedy.stats.short_waits == 3  # one pipeline per master
    store = backend.make()  # waits for one replica (the default)
    assert (await store.save(updates)).saved == streams
    follow = [synthetic_update(LAYOUT, s, 3, 4) for s in streams]
    assert (await store.save(follow)).saved == streams
    loaded = await store.load(streams)
    for s in streams:
        assert_state(loaded.records[s], LAYOUT, s, 4)


async def test_saves_are_on_the_replicas_when_they_return(
    backend: ClusterBackend, redis_cluster: RedisClusterStack
) -> None:
    """A save that returned waited for a replica: the replicas already hold every meta."""
    store = backend.make()
    streams = [f"r{i}" for i in range(12)]
    await store.save([synthetic_update(LAYOUT, s, 0, 2) for s in streams])
    metas = {backend.keys(s)[0]: (await backend.raw(s))[0] for s in streams}
    masters = redis_cluster.masters()
    replicas = [n for n in redis_cluster.nodes if n not in masters]
    assert len(replicas) == 3
    found = 0
    for node in replicas:
        with redis.Redis("127.0.0.1", node.port, socket_timeout=5) as c:
            c.execute_command("READONLY")  # read its master's slots here
            for key, meta in metas.items():
                try:
                    got = c.get(key)
                except redis.ResponseError:  # MOVED: a key of another shard
                    continue
                assert got == meta, key
                found += 1
    assert found == len(streams)


def test_the_worker_start_up_check_loads_the_save_script_on_every_master(
    redis_cluster: RedisClusterStack,
) -> None:
    from tcnad.topology.settings import Settings
    from tcnad.topology.worker.app import create_store
    from tcnad.topology.worker.checks import check_store

    masters = [n.client() for n in redis_cluster.masters()]
    for client in masters:
        client.script_flush()
    settings = Settings(redis_url=redis_cluster.url, redis_cluster=True)
    sha = create_store(settings, LAYOUT)._sha  # the script the worker's saves run
    assert [client.script_exists(sha) for client in masters] == [[False]] * len(masters)
    assert check_store(settings, LAYOUT) is None
    assert [client.script_exists(sha) for client in masters] == [[True]] * len(masters)
