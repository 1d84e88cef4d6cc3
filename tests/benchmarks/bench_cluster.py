"""Round trips per master per batch of ``RedisClusterCacheStore`` on a loopback Redis
Cluster (3 masters, 3 replicas; the dev stack's ``RedisClusterStack``).

Saves and loads batches of streams (each save one reading per stream, waiting for one
replica) and prints, per batch, the round trips each master got, from the store's own
counters (``stats.node_round_trips``), with the wall time of each call.

    .venv/bin/python -m tests.benchmarks.bench_cluster [--streams 1024] [--batches 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tcnad.state.cluster_store import RedisClusterCacheStore
from tcnad.topology.devstack.cluster import RedisClusterStack
from tests.state_fixtures import reference_layout, synthetic_update

LAYOUT = reference_layout()


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {n: after.get(n, 0) - before.get(n, 0) for n in sorted(after)}


async def run(url: str, streams: int, batches: int) -> None:
    store = RedisClusterCacheStore(url, LAYOUT, namespace="bench", wait_replicas=1)
    names = [f"sensor-{i:05d}" for i in range(streams)]
    try:
        await store.check()  # slot map and script on every master
        for b in range(batches):
            for op in ("save", "load"):
                before = dict(store.stats.node_round_trips)
                t0 = time.perf_counter()
                if op == "save":
                    await store.save([synthetic_update(LAYOUT, s, b, b + 1) for s in names])
                else:
                    await store.load(names)
                dt = time.perf_counter() - t0
                per_node = _delta(before, store.stats.node_round_trips)
                print(
                    f"batch {b} {op:<4} streams={streams} round trips per master="
                    f"{list(per_node.values())} ({sum(per_node.values())} in all) {dt:.3f} s"
                )
        print(
            f"WAIT came back short: {store.stats.short_waits}, redirects: {store.stats.redirects}"
        )
    finally:
        await store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=1024)
    p.add_argument("--batches", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisClusterStack(3, 1, log_dir=Path(tmp)) as c:
        asyncio.run(run(c.url, args.streams, args.batches))


if __name__ == "__main__":
    main()
