"""Stats patches on a real Redis and a real Redis Cluster: a save whose store knows the
stored body sends only the stats that changed, and a patch lands only on the state it was
computed from (``tcnad.state.patch``, the save script)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from tcnad.state import StateCodec, StoreUnavailable
from tcnad.state.base import Bases
from tcnad.state.cluster_store import RedisClusterCacheStore
from tcnad.state.patch import BASE_BYTES, POS_BYTES, RECORD, encode_patches
from tcnad.state.redis_store import resp_size
from tcnad.state.types import StreamUpdate
from tests.state_fixtures import expected_state, reference_layout, synthetic_update
from tests.unit.state.contract import assert_state

from .redis_cluster import ClusterBackend, RedisClusterStack
from .store_backend import RedisBackend

# stats the size of the shipped detector's; a step changes 5 of them (``stats_at``)
WIDE = reference_layout(stats_size=210)


@pytest.fixture(params=["redis", "cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[RedisBackend]:
    if request.param == "redis":
        made = RedisBackend(request.getfixturevalue("redis_url"))
    else:
        cluster: RedisClusterStack = request.getfixturevalue("redis_cluster")
        made = ClusterBackend(cluster.url, masters=3)
    yield made
    await made.close()


async def sent_by(store, updates: list[StreamUpdate]) -> tuple[list[str], int]:
    """(saved streams, bytes sent) of one save (the save script loaded before)."""
    await store.check()
    before = store.stats.bytes_sent
    result = await store.save(updates)
    return result.saved, store.stats.bytes_sent - before


def body_save(store, update: StreamUpdate) -> int:
    """Bytes of a save of ``update`` alone, sent with its whole body (and, on a cluster, the
    WAIT that follows it)."""
    body, rows = store.codec.encode_update(update)
    since = update.delta.since_step
    keys = store.keys(update.stream)
    return resp_size(("EVALSHA", store._sha, 2, *keys, since, body, rows)) + wait_bytes(store)


def wait_bytes(store) -> int:
    """Bytes of the WAIT after each pipeline of saves (a cluster store's), else 0."""
    if not isinstance(store, RedisClusterCacheStore):
        return 0
    return resp_size(("WAIT", store.wait_replicas, store.wait_timeout_ms))


async def test_saves_after_a_save_or_a_load_send_only_the_changed_stats(backend: RedisBackend):
    store = backend.make(WIDE)
    codec = StateCodec(WIDE)
    saved, _ = await sent_by(store, [synthetic_update(WIDE, "s", 0, 300)])
    assert saved == ["s"]
    update = synthetic_update(WIDE, "s", 300, 301)
    base, _ = await backend.raw("s")
    assert base is not None
    body, rows = codec.encode_update(update)
    (patch,) = encode_patches([base[len(codec.header) :]], [body], WIDE.stats_size)
    keys = store.keys("s")
    saved, first = await sent_by(store, [update])
    assert saved == ["s"]
    patched = resp_size(("EVALSHA", store._sha, 2, *keys, 300, patch, rows, "p"))
    assert first == patched + wait_bytes(store)
    # the body is 1,712 bytes; the patch 56 and two records, of 4 floats and of 1
    assert len(patch) == 56 + 8 + 32 + 8 + 8
    assert first < resp_size(("EVALSHA", store._sha, 2, *keys, 300, body, rows)) - 1500
    meta, _ = await backend.raw("s")
    want = expected_state(WIDE, "s", 301)
    assert meta == codec.encode_meta(301, 1300, 1.7e9 + 301, want.stats)
    # another store, which has only loaded the stream, patches it too
    other = backend.make(WIDE)
    assert_state((await other.load(["s"])).records["s"], WIDE, "s", 301)
    saved, second = await sent_by(other, [synthetic_update(WIDE, "s", 301, 302)])
    assert saved == ["s"] and second == first
    assert_state((await store.load(["s"])).records["s"], WIDE, "s", 302)
    meta, _ = await backend.raw("s")
    assert meta == codec.encode_meta(302, 1301, 1.7e9 + 302, expected_state(WIDE, "s", 302).stats)


async def test_a_patch_never_lands_on_a_state_it_was_not_computed_from(backend: RedisBackend):
    """A stream stored at the same step by another history (expired and rebuilt, say): the
    patch is fenced, and the stored state is left whole."""
    store = backend.make(WIDE)
    await store.save([synthetic_update(WIDE, "s", 0, 5)])
    codec = StateCodec(WIDE)
    _, rings = await backend.raw("s")
    assert rings is not None
    foreign = expected_state(WIDE, "t", 5).stats  # another stream's stats, at step 5
    planted = codec.encode_meta(5, 77, 1.7e9 + 5, foreign)
    await backend.plant("s", planted, rings)
    result = await store.save([synthetic_update(WIDE, "s", 5, 6)])
    assert result.fenced == ["s"]
    assert await backend.raw("s") == (planted, rings)
    # fenced, the store reloads, and the save from what it loaded applies
    record = (await store.load(["s"])).records["s"]
    assert record.offset == 77
    assert (await store.save([synthetic_update(WIDE, "s", 5, 6)])).saved == ["s"]


async def test_a_retried_patch_is_already_applied_and_a_different_one_fenced(
    backend: RedisBackend,
):
    first, second, third = backend.make(WIDE), backend.make(WIDE), backend.make(WIDE)
    await first.save([synthetic_update(WIDE, "s", 0, 5)])
    for store in (second, third):
        await store.load(["s"])  # each holds the body of step 5 as its base
    assert (await first.save([synthetic_update(WIDE, "s", 5, 6)])).saved == ["s"]
    stored = await backend.raw("s")
    # the same update from the same base: what a retry after a lost reply sends
    saved, sent = await sent_by(second, [synthetic_update(WIDE, "s", 5, 6)])
    assert saved == ["s"] and sent < body_save(second, synthetic_update(WIDE, "s", 5, 6)) - 1500
    assert await backend.raw("s") == stored
    # from the same base to another state of step 6: fenced, nothing written
    other = dataclasses.replace(synthetic_update(WIDE, "t", 5, 6), stream="s")
    assert (await third.save([other])).fenced == ["s"]
    assert await backend.raw("s") == stored


async def test_a_state_of_an_older_format_takes_no_patch(backend: RedisBackend):
    store = backend.make(WIDE)
    await store.save([synthetic_update(WIDE, "s", 0, 5)])
    meta, rings = await backend.raw("s")
    assert meta is not None and rings is not None
    codec = StateCodec(WIDE)
    head = len(codec.header)
    old = codec.old_header + meta[head : head + 24] + meta[head + 32 :]  # format 1
    await backend.plant("s", old, rings)
    assert (await store.save([synthetic_update(WIDE, "s", 5, 6)])).fenced == ["s"]
    assert await backend.raw("s") == (old, rings)
    assert_state((await store.load(["s"])).records["s"], WIDE, "s", 5)
    saved, sent = await sent_by(store, [synthetic_update(WIDE, "s", 5, 6)])
    assert sent == body_save(store, synthetic_update(WIDE, "s", 5, 6))  # the base was format 1
    assert saved == ["s"]
    new_meta, _ = await backend.raw("s")
    assert new_meta is not None and new_meta.startswith(codec.header)
    assert_state((await store.load(["s"])).records["s"], WIDE, "s", 6)


async def test_a_malformed_patch_is_an_error_and_writes_nothing(backend: RedisBackend):
    store = backend.make(WIDE)
    await store.save([synthetic_update(WIDE, "s", 0, 5)])
    stored = await backend.raw("s")
    meta = stored[0]
    assert meta is not None
    codec = StateCodec(WIDE)
    body = meta[len(codec.header) :]
    head = codec.encode_body(6, 1005, 1.7e9 + 6, expected_state(WIDE, "s", 6).stats)[:POS_BYTES]
    bad = head + body[8:POS_BYTES] + RECORD.pack(WIDE.stats_size, 1) + bytes(8)
    assert len(head + body[8:POS_BYTES]) == POS_BYTES + BASE_BYTES
    rows = codec.encode_rows(synthetic_update(WIDE, "s", 5, 6).delta)
    with pytest.raises(StoreUnavailable, match="malformed stats patch"):
        await store._run(
            "save", ["s"], [("EVALSHA", store._sha, 2, *store.keys("s"), 5, bad, rows, "p")]
        )
    assert await backend.raw("s") == stored


async def test_streams_beyond_the_bases_budget_send_whole_bodies(backend: RedisBackend):
    store = backend.make(WIDE)
    codec = StateCodec(WIDE)
    store.bases = Bases(codec, budget=2 * codec.body_size)  # room for two streams
    names = ["a", "b", "c"]
    await store.save([synthetic_update(WIDE, s, 0, 5) for s in names])
    assert list(store.bases.held) == ["b", "c"]
    saved, sent = await sent_by(store, [synthetic_update(WIDE, "b", 5, 6)])
    assert saved == ["b"] and sent < body_save(store, synthetic_update(WIDE, "b", 5, 6)) - 1500
    saved, sent = await sent_by(store, [synthetic_update(WIDE, "a", 5, 6)])
    assert saved == ["a"] and sent == body_save(store, synthetic_update(WIDE, "a", 5, 6))
    assert list(store.bases.held) == ["b", "a"]  # a in, c (the least recently used) out
    for s, step in (("a", 6), ("b", 6), ("c", 5)):
        assert_state((await store.load([s])).records[s], WIDE, s, step)
