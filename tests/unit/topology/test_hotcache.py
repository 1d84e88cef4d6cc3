"""The LRU of hot streams: byte bound, eviction order, pinning, partitions."""

from __future__ import annotations

import pytest

from tcnad.topology.worker.hotcache import CacheFull, HotCache


def test_capacity_is_bounded_by_bytes_and_by_pool_slots() -> None:
    assert HotCache(pool_slots=100, bytes_per_stream=1000, max_bytes=10_500).capacity == 10
    assert HotCache(pool_slots=4, bytes_per_stream=1000, max_bytes=10**9).capacity == 4
    assert HotCache(pool_slots=4, bytes_per_stream=1000, max_bytes=0).capacity == 1


def test_least_recently_used_unpinned_stream_is_evicted_and_its_slot_reused() -> None:
    hot = HotCache(3, 10, 30)
    slots = {s: hot.admit(s, ()).slot for s in "abc"}
    assert sorted(slots.values()) == [0, 1, 2]
    hot.get("a")  # a is now the most recent; b is the oldest
    d = hot.admit("d", pinned={"d"})
    assert "b" not in hot and d.slot == slots["b"] and hot.evictions == 1
    e = hot.admit("e", pinned={"c", "e"})  # c pinned: a goes
    assert "a" not in hot and "c" in hot and e.slot == slots["a"]
    assert hot.nbytes == 30


def test_all_pinned_raises() -> None:
    hot = HotCache(2, 1, 2)
    hot.admit("a", ())
    hot.admit("b", ())
    with pytest.raises(CacheFull):
        hot.admit("c", pinned={"a", "b", "c"})


def test_drop_by_partition_frees_slots() -> None:
    hot = HotCache(4, 1, 4)
    for s, p in [("a", 0), ("b", 1), ("c", 1)]:
        hot.admit(s, ()).partition = p
    assert hot.drop_partitions({1}) == 2
    assert list(hot) == ["a"] and hot.partition_of("a") == 0
    assert {hot.admit(s, ()).slot for s in "xyz"} == {1, 2, 3}
    with pytest.raises(ValueError):
        hot.admit("a", ())


def test_the_worker_pool_holds_as_many_streams_as_the_hot_cache_bytes_allow() -> None:
    from tcnad.topology.settings import Settings
    from tcnad.topology.worker.app import _bytes_per_stream, load_detector

    full = Settings(hot_cache_bytes=1, ring_dtype="float32")
    per32 = _bytes_per_stream(load_detector(full))
    big = 5_000 * per32 + 7  # more than the 4,096 slots a Detector has by default
    det = load_detector(Settings(hot_cache_bytes=big, ring_dtype="float32"))
    assert det.capacity == 5_000
    assert HotCache(det.capacity, _bytes_per_stream(det), big).capacity == 5_000
    eight = load_detector(Settings(hot_cache_bytes=big))  # float8 rings, the default
    assert eight.layout.ring_dtype == "float8_e5m2"
    assert eight.capacity == big // _bytes_per_stream(eight) > 18_000
    assert load_detector(Settings(hot_cache_bytes=0)).capacity == 1
