"""State store benchmark against a real redis-server it starts (and stops) itself.

Reference layout (16 convolutions, 32 channels, dilations 1..128, kernel 3), a batch of
1024 streams, one reading per stream per batch. Prints:
- bytes sent to Redis per applied reading (the store's RESP count, cross-checked with the
  server's ``total_net_input_bytes``), against the 16*32*4+256 budget;
- round trips and server-side commands per load and per save;
- save and load time per batch for the store and for the naive approach (whole state per
  stream: pipelined SET of meta+rings, pipelined GET), measured in the same run, as ratios.

Also the bytes a stream takes in Redis (``MEMORY USAGE`` of its two keys) and in the worker's
hot cache (rings + stats, as the worker budgets them). ``--ring-dtype float16`` (or
bfloat16) stores half-precision rings; ``--stats-size`` is the stats vector's length (210,
the shipped detector's; the budget line was first measured with 24); ``--bytes-only`` skips
the timings. The synthetic streams change 5 of their stats per reading, so their saves send
stats patches (``tcnad.state.patch``); a last line measures the bytes of the shipped
detector's own states, stepped over generated series, which change more of them.

Run: .venv/bin/python -m tests.benchmarks.bench_state [--streams 1024 --batches 5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis

from tcnad.detector import Detector
from tcnad.detector.state import RING_DTYPES, StreamState
from tcnad.state import RedisCacheStore, StateCodec, redis_store
from tcnad.state.base import Bases
from tcnad.state.redis_store import resp_size
from tcnad.state.types import StreamUpdate
from tests.integration.redis_proc import RedisProc, redis_server_bin
from tests.state_fixtures import expected_state, reference_layout, synthetic_update

LAYOUT = reference_layout()
BUDGET = 16 * 32 * 4 + 256 + 8  # + the source of the stored position (state format 2)


async def server_counters(client: aioredis.Redis) -> tuple[int, int]:
    """(EVALSHA + MGET calls, net input bytes) as the server counts them. Commands run
    inside scripts are counted apart (under their own names), so these are client calls."""
    stats = await client.info("commandstats")
    calls = sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "mget"))
    return calls, int((await client.info("stats"))["total_net_input_bytes"])


async def settle(client: aioredis.Redis) -> None:
    """Wait until no AOF rewrite runs: the fork's copy-on-write would slow whichever side
    happens to be timed while it lasts."""
    while True:
        info = await client.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return
        await asyncio.sleep(0.2)


async def timed(job: Awaitable[object]) -> float:
    """Seconds to run ``job`` (a coroutine does nothing until awaited)."""
    start = time.perf_counter()
    await job
    return time.perf_counter() - start


class Naive:
    """Whole state per stream: SET/GET one blob (meta + all rings) per stream, pipelined."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.codec = StateCodec(LAYOUT)

    async def save(self, states: dict[str, StreamState]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for stream, state in states.items():
            blob = self.codec.encode_meta(state.step, state.step, 0.0, state.stats)
            pipe.set(f"naive:{{{stream}}}", blob + self.codec.encode_rings(state.rings))
        await pipe.execute()

    async def load(self, streams: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for stream in streams:
            pipe.get(f"naive:{{{stream}}}")
        size = self.codec.meta_size
        for stream, blob in zip(streams, await pipe.execute(), strict=True):
            self.codec.decode(stream, blob[:size], blob[size:])


async def measure_bytes(
    store: RedisCacheStore, client: aioredis.Redis, streams: list[str], step: int, per_batch: int
) -> tuple[float, float, int, int]:
    """Save ``per_batch`` readings per stream once: (store bytes / reading, server bytes /
    reading, round trips, server commands)."""
    batch = [synthetic_update(LAYOUT, s, step, step + per_batch) for s in streams]
    calls0, net0 = await server_counters(client)
    sent0, trips0 = store.stats.bytes_sent, store.stats.round_trips
    result = await store.save(batch)
    assert result.saved == streams, result.fenced[:3]
    calls1, net1 = await server_counters(client)
    readings = len(streams) * per_batch
    info_bytes = resp_size(("INFO", "commandstats")) + resp_size(("INFO", "stats"))
    return (
        (store.stats.bytes_sent - sent0) / readings,
        (net1 - net0 - info_bytes) / readings,
        store.stats.round_trips - trips0,
        calls1 - calls0,
    )


async def detector_bytes(url: str, n_streams: int, warm: int = 400, measured: int = 50) -> None:
    """Bytes per reading of the shipped detector's states, one reading per stream per save:
    ``n_streams`` generated series (a daily cycle at 5-minute readings, a random walk and
    noise, each its own), stepped ``warm + measured`` readings and saved every reading by
    two stores, one sending stats patches and one sending whole bodies, alternating; the
    last ``measured`` saves are counted: bytes, client time and Redis server time."""
    det = Detector.from_checkpoint(capacity=n_streams, ring_dtype=LAYOUT.ring_dtype)
    rng = np.random.default_rng(5)
    total = warm + measured
    t = 1.7e9 + 300.0 * np.arange(total)
    phase = rng.uniform(0, 2 * np.pi, size=(n_streams, 1))
    walk = np.cumsum(rng.normal(0, 0.05, size=(n_streams, total)), axis=1)
    values = 10 + 3 * np.sin(2 * np.pi * t / 86400 + phase) + walk
    values += rng.normal(0, 0.3, size=values.shape)
    patched = RedisCacheStore(url, det.layout, namespace="patched", socket_timeout=120)
    bodies = RedisCacheStore(url, det.layout, namespace="bodies", socket_timeout=120)
    bodies.bases = Bases(bodies.codec, budget=0)
    client = aioredis.Redis.from_url(url)
    streams = [f"series-{i:05d}" for i in range(n_streams)]
    slots = np.arange(n_streams)
    spent = {"patched": [0, 0.0, 0], "bodies": [0, 0.0, 0]}  # bytes, client s, server us
    for store in (patched, bodies):
        await store.check()
    for k in range(total):
        det.step(slots, values[:, k : k + 1], np.full(n_streams, t[k]))
        deltas = det.delta(slots, np.full(n_streams, k))
        updates = [StreamUpdate(s, d, k, float(t[k])) for s, d in zip(streams, deltas, strict=True)]
        order = ((patched, "patched"), (bodies, "bodies"))
        for store, name in order if k % 2 else order[::-1]:
            before = store.stats.bytes_sent
            usec0 = int((await client.info("commandstats"))["cmdstat_evalsha"]["usec"])
            start = time.perf_counter()
            result = await store.save(updates)
            took = time.perf_counter() - start
            usec1 = int((await client.info("commandstats"))["cmdstat_evalsha"]["usec"])
            assert result.saved == streams, result.fenced[:3]
            if k >= warm:
                spent[name][0] += store.stats.bytes_sent - before
                spent[name][1] += took
                spent[name][2] += usec1 - usec0
    readings = n_streams * measured
    (pb, pt, pu), (bb, bt, bu) = spent["patched"], spent["bodies"]
    print(
        f"shipped detector ({det.layout.stats_size} stats, {LAYOUT.ring_dtype} rings), 1 "
        f"reading/stream/save, {n_streams} streams, readings {warm}..{total}, stats patches "
        f"against whole bodies, alternating: {pb / readings:.0f} against {bb / readings:.0f} "
        f"B/reading ({bb / pb:.2f}x); save {pt / readings * 1e6:.1f} against "
        f"{bt / readings * 1e6:.1f} us/stream ({pt / bt:.2f}x); Redis server "
        f"{pu / readings:.1f} against {bu / readings:.1f} us/save ({pu / bu:.2f}x)"
    )
    for store in (patched, bodies):
        await store.close()
    await client.aclose()


async def stream_bytes(client: aioredis.Redis, store: RedisCacheStore, stream: str) -> None:
    """Bytes of one warm stream in Redis (both keys, as MEMORY USAGE counts them) and in the
    worker's hot cache."""
    meta_key, rings_key = redis_store.stream_keys(store.namespace, stream)
    meta, rings = await client.strlen(meta_key), await client.strlen(rings_key)
    used = [await client.memory_usage(k, samples=0) for k in (meta_key, rings_key)]
    hot = LAYOUT.ring_bytes + 8 * LAYOUT.stats_size
    print(
        f"per stream ({LAYOUT.ring_dtype} rings, {LAYOUT.stats_size} stats): Redis values "
        f"{meta + rings} B (meta {meta}, rings {rings}), MEMORY USAGE {sum(used)} B "
        f"(meta {used[0]}, rings {used[1]}); hot cache {hot} B (rings {LAYOUT.ring_bytes} "
        f"+ stats {8 * LAYOUT.stats_size})"
    )


async def run(n_streams: int, batches: int, appendonly: bool, bytes_only: bool = False) -> None:
    streams = [f"sensor-{i:05d}" for i in range(n_streams)]
    with tempfile.TemporaryDirectory() as tmp, RedisProc(Path(tmp), appendonly=appendonly) as srv:
        client = aioredis.Redis.from_url(srv.url, socket_timeout=120)
        store = RedisCacheStore(srv.url, LAYOUT, socket_timeout=120)
        naive = Naive(client)
        version = (await client.info("server"))["redis_version"]
        print(
            f"redis-server {version} ({redis_server_bin()}), appendonly={appendonly}, "
            f"streams={n_streams}, state={LAYOUT.ring_bytes + store.codec.meta_size} B/stream"
        )
        step = 300  # past the first wrap of the short rings, like a warm stream
        await store.save([synthetic_update(LAYOUT, s, 0, step) for s in streams])
        await naive.save({s: expected_state(LAYOUT, s, step) for s in streams})
        await settle(client)

        for per_batch in (1, 4):
            sent, net, trips, calls = await measure_bytes(store, client, streams, step, per_batch)
            step += per_batch
            print(
                f"save, {per_batch} reading(s)/stream/batch: {sent:.0f} B/reading counted, "
                f"{net:.0f} B/reading by redis INFO (budget {BUDGET}); round trips {trips}, "
                f"EVALSHA calls {calls}"
            )
        trips0, (calls0, _) = store.stats.round_trips, await server_counters(client)
        await store.load(streams)
        calls1, _ = await server_counters(client)
        print(f"load: round trips {store.stats.round_trips - trips0}, MGET calls {calls1 - calls0}")
        await stream_bytes(client, store, streams[0])
        await detector_bytes(srv.url, min(n_streams, 256))
        if bytes_only:
            await store.close()
            await client.aclose()
            return

        await compare(store, naive, streams, step, batches)
        step += batches
        await loop_stalls(store, streams, step, batches)
        step += 2 * batches
        evalsha = (await client.info("commandstats"))["cmdstat_evalsha"]
        print(f"server time per save script call: {evalsha['usec_per_call']:.0f} us (all calls)")
        await store.close()
        await client.aclose()


async def compare(
    store: RedisCacheStore, naive: Naive, streams: list[str], step: int, batches: int
) -> None:
    """Time save and load of one reading per stream, store and naive alternating."""
    ours_save, ours_load, naive_save, naive_load = [], [], [], []
    for _ in range(batches):
        updates = [synthetic_update(LAYOUT, s, step, step + 1) for s in streams]
        ours_save.append(await timed(store.save(updates)))
        ours_load.append(await timed(store.load(streams)))
        step += 1
        states = {s: expected_state(LAYOUT, s, step) for s in streams}
        naive_save.append(await timed(naive.save(states)))
        naive_load.append(await timed(naive.load(streams)))
    report(ours_save, ours_load, naive_save, naive_load, len(streams))


async def _stall_during(job: Awaitable[object]) -> float:
    """The longest gap (s) between ticks of a 1 ms ticker task while ``job`` runs: how long
    other work on the event loop (a worker's next batch) had to wait at most."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.005)
    await job
    done.set()
    await task
    return max(gaps)


async def loop_stalls(store: RedisCacheStore, streams: list[str], step: int, batches: int) -> None:
    """Longest event-loop stall during a save, with the store's yields every
    ``ENCODE_CHUNK`` encodings and with the whole save encoded in one piece, alternating."""
    chunked, whole = [], []
    for _ in range(batches):
        for out, chunk in ((chunked, redis_store.ENCODE_CHUNK), (whole, len(streams) + 1)):
            saved, redis_store.ENCODE_CHUNK = redis_store.ENCODE_CHUNK, chunk
            try:
                updates = [synthetic_update(LAYOUT, s, step, step + 1) for s in streams]
                out.append(await _stall_during(store.save(updates)))
            finally:
                redis_store.ENCODE_CHUNK = saved
            step += 1
    c, w = statistics.median(chunked), statistics.median(whole)
    print(
        f"longest event-loop stall during a save of {len(streams)} streams, median of "
        f"{batches}: yielding every {redis_store.ENCODE_CHUNK} encodings {c * 1e3:.1f} ms, "
        f"in one piece {w * 1e3:.1f} ms, ratio {w / c:.1f}x"
    )


def report(
    ours_save: list[float],
    ours_load: list[float],
    naive_save: list[float],
    naive_load: list[float],
    n: int,
) -> None:
    os_, ol = statistics.median(ours_save), statistics.median(ours_load)
    ns, nl = statistics.median(naive_save), statistics.median(naive_load)
    print(f"median over {len(ours_save)} batches of {n} streams (seconds per batch):")
    print(f"  save       store {os_:.3f}  naive {ns:.3f}  ratio naive/store {ns / os_:.1f}x")
    print(f"  load       store {ol:.3f}  naive {nl:.3f}  ratio naive/store {nl / ol:.2f}x")
    print(
        f"  save+load  store {os_ + ol:.3f}  naive {ns + nl:.3f}  "
        f"ratio naive/store {(ns + nl) / (os_ + ol):.2f}x; "
        f"store throughput {n / (os_ + ol):.0f} streams/s (save+load)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--no-appendonly", action="store_true")
    parser.add_argument("--ring-dtype", choices=RING_DTYPES, default="float32")
    parser.add_argument("--stats-size", type=int, default=210)
    parser.add_argument("--bytes-only", action="store_true", help="skip the timings")
    args = parser.parse_args()
    global LAYOUT
    LAYOUT = dataclasses.replace(LAYOUT, ring_dtype=args.ring_dtype, stats_size=args.stats_size)
    asyncio.run(run(args.streams, args.batches, not args.no_appendonly, args.bytes_only))


if __name__ == "__main__":
    main()
