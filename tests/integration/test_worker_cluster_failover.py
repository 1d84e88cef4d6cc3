"""A Redis Cluster master is killed while a real `tcnad worker` (TCNAD_REDIS_CLUSTER=1)
applies readings: its replica takes over, the worker's store retries until it answers, and
every stream's final state equals one uninterrupted pass of the Detector over the same
readings - no reading lost, none applied twice.

The saves wait for one replica (the cluster default), so a save the worker counted as done
is on the replica that takes over. The promoted replica has no replica of its own until the
killed node is restarted (as a supervisor would) and rejoins as its replica; until then
its shard's saves come back short and are retried, their offsets not committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcnad.detector.state import StateLayout
from tcnad.state.cluster_store import RedisClusterCacheStore
from tcnad.state.types import StreamRecord
from tcnad.topology.devstack.cluster import RedisClusterStack

from .redis_cluster import start_cluster
from .worker_harness import (
    Series,
    Workers,
    assert_same_state,
    interleave,
    make_series,
    produce,
    reference_states,
    topics_for,
    worker_env,
)

pytestmark = pytest.mark.timeout(300)
logger = logging.getLogger(__name__)

N_STREAMS = 24
N_READINGS = 240


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterStack]:
    yield from start_cluster(tmp_path / "cluster", node_timeout_ms=1000)


@pytest.fixture
def workers(
    kafka_bootstrap: str, cluster: RedisClusterStack, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    extra = {
        "TCNAD_REDIS_CLUSTER": "1",
        "TCNAD_BATCH_MAX_SIZE": "400",
        "TCNAD_SAVE_INTERVAL_MS": "200",
        "TCNAD_STORE_RETRIES": "12",  # the takeover and the rejoin take seconds
        "TCNAD_STORE_BACKOFF_MAX_S": "2",
    }
    w = Workers(worker_env(kafka_bootstrap, cluster.url, topics_for(unique_name), extra), tmp_path)
    yield w
    w.stop_all()


async def _stored(
    url: str, namespace: str, layout: StateLayout, streams: list[str]
) -> dict[str, StreamRecord]:
    store = RedisClusterCacheStore(url, layout, namespace=namespace, wait_replicas=0)
    try:
        return (await store.load(streams)).records
    finally:
        await store.close()


def _alive(workers: Workers) -> None:
    dead = [p for p in workers.procs if not p.running]
    assert not dead, f"the worker exited: {[p.returncode for p in dead]}\n{workers.logs(60)}"


async def test_a_master_killed_mid_stream_fails_over_and_nothing_is_lost_or_repeated(
    workers: Workers, cluster: RedisClusterStack, kafka_bootstrap: str
) -> None:
    from tcnad.detector.engine import Detector

    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    namespace = workers.env["TCNAD_NAMESPACE"]
    series: list[Series] = [make_series(f"m{k:02d}", N_READINGS, seed=k) for k in range(N_STREAMS)]
    names = [s.stream for s in series]
    messages = list(interleave(series))
    topic = workers.env["TCNAD_READINGS_TOPIC"]
    third = len(messages) // 3
    await produce(kafka_bootstrap, topic, messages[:third])
    workers.start()
    for _ in range(240):
        _alive(workers)
        if sum(
            r.state.step for r in (await _stored(cluster.url, namespace, layout, names)).values()
        ):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"no reading applied within 120 s\n{workers.logs(60)}")

    producing = asyncio.ensure_future(produce(kafka_bootstrap, topic, messages[third:], rate=500))
    await asyncio.sleep(1.5)
    victim = cluster.masters()[1]  # not the node of TCNAD_REDIS_URL
    before = await _stored(cluster.url, namespace, layout, names)
    t0 = time.monotonic()
    victim.kill()  # SIGKILL, mid-stream
    await asyncio.to_thread(cluster.wait_ready, 30.0)  # a replica owns its slots now
    promoted_s = time.monotonic() - t0
    assert victim not in cluster.masters()
    victim.restart()  # rejoins as the promoted master's replica
    await asyncio.to_thread(cluster.wait_ready, 30.0)
    rejoined_s = time.monotonic() - t0
    await producing

    expected = {s.stream: len(s.values) for s in series}
    deadline = time.monotonic() + 120.0
    records: dict[str, StreamRecord] = {}
    while time.monotonic() < deadline:
        _alive(workers)
        records = await _stored(cluster.url, namespace, layout, names)
        if all(s in records and records[s].state.step == n for s, n in expected.items()):
            break
        await asyncio.sleep(1.0)
    done_s = time.monotonic() - t0
    steps = {s: (records[s].state.step if s in records else None) for s in expected}
    assert steps == expected, f"steps differ\n{workers.logs(80)}"
    reference = reference_states(series)
    for s in series:
        assert_same_state(records[s.stream].state, reference[s.stream], s.stream)
    log = workers.procs[0].log_tail(100_000)
    logger.info("worker log:\n%s", log)
    assert "state save failed attempt" in log or "state load failed attempt" in log, (
        "the kill did not reach the worker's store; the test proves nothing\n" + log[-4000:]
    )
    assert sum(r.state.step for r in before.values()) < sum(expected.values())
    print(
        f"\nfailover: replica promoted {promoted_s:.1f}s after the kill, killed node back "
        f"as a replica at {rejoined_s:.1f}s, every reading applied {done_s:.1f}s after it; "
        f"retries logged: {log.count('failed attempt')}"
    )
