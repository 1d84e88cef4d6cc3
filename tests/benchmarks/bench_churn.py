"""Hot-cache churn: more streams than one worker's hot cache holds, against a real Redis.

Drives the worker's batch path without Kafka: ``BatchPipeline.prepare`` / ``apply`` (decode,
load the streams that are not hot from Redis into the detector's pool, evicting the least
recently used, step, alerts to a publisher that acks at once) and the consumer's ``Saver``
(write-behind saves at most every ``save_interval_ms``, at once at ``max_unsaved_records``),
with the worker's defaults, a ``RedisCacheStore`` and a redis-server this script starts on
a free port (no AOF) and stops. Readings come as fast as the path takes them (a backlog),
in batches of ``--batch`` records (default: streams / 20, so that a batch's streams are
about half the cache (b) whatever ``--streams``) drawn over all ``--streams`` streams:
uniformly, and from a Zipf mix (stream of rank r drawn with weight r^-s, ranks shuffled
over the streams).

Every stream is stored in Redis first (a warm state: full rings, statistics after 300
readings). Then, for each mix, readings drawn from it go through a worker whose hot cache
holds (a) every stream, (b) ``--fraction`` of them (``hot_cache_bytes`` = that many streams'
bytes), in the order a, b, b, a, each time a fresh worker: (a) first loads every stream
once (the warm-up pass, its rate printed: a cold start), then both run ``--warm-batches``
untimed batches of the mix (so that (b) starts with a full cache) and the timed
``--readings`` (default: 2 x streams).

Printed per run: readings/s (applied, alerts out and saved: the run ends when its last
save returns); hit rate (of a batch's streams, and of its readings, found hot); streams
loaded and load round trips per batch, and the load round trips' time per stream loaded;
bytes Redis sent per reading (``INFO`` ``total_net_output_bytes``: the loads, and the
saves' one-integer replies); stream saves per reading and the saves a full cache forced;
where the time went; the cores redis-server used. Then, per mix, the ratio (b)/(a) (means
of the two runs of each case) and the extra time per stream loaded:
(1 / rate b - 1 / rate a) / (loads per reading b - loads per reading a), which holds the
load, the admission into the pool, the eviction and the extra saves a full cache forces.

Model: the shipped model's geometry (8 blocks, kernel 3, dilations 1..128: 16 rings of the
same lengths) at ``--channels`` (default 8: randomly initialised weights; 32: the shipped
model and its weights), rings in ``--ring-dtype`` (default: the detector's, float8_e5m2; the
rows recorded before 2026-12-07 were float16, then the default). A stream's bytes scale
with channels x ring width: at 8 channels and float16 a stream is 16,292 bytes of rings,
1/8 of the shipped model's 130,312 in float32, so 100,000 streams fit in about 2.5 GB of
Redis and 1.8 GB of pool. The per-stream bytes are printed; run ``--channels 32`` with
fewer streams for the shipped model itself. The detector's pool is made as large as the
cache, as the worker sizes its pool from ``hot_cache_bytes``.

Run: .venv/bin/python -m tests.benchmarks.bench_churn [--streams 100000 --fraction 0.1
     --zipf 1.0 --order abba --channels 8 --ring-dtype float16]
About 6 minutes and 5.5 GB (Redis 2.5 GB, this process 2.6 GB at most) at the defaults on
a 2-core host; ``--streams 10000`` takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import math
import os
import resource
import tempfile
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio as aioredis
import torch
from faust.types import TP

from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.engine import Detector
from tcnad.detector.model import TCN, fold
from tcnad.detector.state import DEFAULT_RING_DTYPE, RING_DTYPES
from tcnad.state import RedisCacheStore, StateCodec, redis_store
from tcnad.state.types import LoadResult, StreamUpdate
from tcnad.topology.settings import Settings
from tcnad.topology.wire.decode import RawRecord
from tcnad.topology.worker.batch import BatchOutcome, OutMessage, PipelineConfig
from tcnad.topology.worker.hotcache import HotCache
from tcnad.topology.worker.pipeline import BatchPipeline
from tcnad.topology.worker.runtime import tune_gc
from tcnad.topology.worker.saver import Saver, Span
from tests.integration.redis_proc import RedisProc, redis_server_bin

DEFAULTS = Settings.model_fields
SAVE_INTERVAL_S = DEFAULTS["save_interval_ms"].default / 1000.0
MAX_UNSAVED = DEFAULTS["max_unsaved_records"].default
TOPIC = "readings"
PARTITIONS = 8
NAMESPACE = "churn"
T0 = 1.7e9  # the stored states' last reading; the readings follow it, one second apart
WARM_STEPS = 300  # past the longest ring (256 rows): every row of a stored state written


# --- the model and the stored states --------------------------------------------------------


def model(channels: int) -> tuple[Any, Any]:
    """(spec, weights): the shipped model at 32 channels, else its geometry at ``channels``
    with randomly initialised weights (seeded, so every worker of a run has the same id)."""
    spec, weights, _ = load_checkpoint(None)
    if channels == spec.channels:
        return spec, weights
    spec = dataclasses.replace(spec, channels=channels, dropout=0.0)
    torch.manual_seed(0)
    return spec, fold(TCN(spec).eval())


def warm_updates(spec: Any, weights: Any, ring_dtype: str, n: int) -> list[Any]:
    """``n`` warm state deltas since step 0 (full rings): ``WARM_STEPS`` readings of
    seasonal series with noise, stepped together."""
    det = Detector(spec, weights, device="cpu", capacity=n, ring_dtype=ring_dtype)
    slots = np.arange(n, dtype=np.int64)
    det.reset(slots)
    rng = np.random.default_rng(1)
    phase = rng.uniform(0, 2 * np.pi, n)
    for i in range(WARM_STEPS):
        x = 10 + 3 * np.sin(2 * np.pi * i / 50 + phase) + rng.normal(0, 0.3, n)
        det.step(slots, x[:, None], np.full(n, T0 - WARM_STEPS + i))
    return det.delta(slots, np.zeros(n, dtype=np.int64))


async def store_all(store: RedisCacheStore, names: list[str], deltas: list[Any]) -> float:
    """Store a warm state for every stream (stream i gets delta i % len(deltas))."""
    t0 = time.perf_counter()
    chunk = 2048
    for lo in range(0, len(names), chunk):
        updates = [
            StreamUpdate(s, deltas[(lo + i) % len(deltas)], -1, T0)
            for i, s in enumerate(names[lo : lo + chunk])
        ]
        result = await store.save(updates)
        if result.fenced:
            raise RuntimeError(f"{len(result.fenced)} streams were already stored")
    return time.perf_counter() - t0


# --- the readings ---------------------------------------------------------------------------


class Readings:
    """Records for ``n`` streams: each stream's readings one second apart after ``T0``, each
    partition's offsets consecutive (stream k on partition k % PARTITIONS)."""

    def __init__(self, n: int, seed: int) -> None:
        self.names = [f"sensor-{k:06d}" for k in range(n)]
        self.keys = [s.encode() for s in self.names]
        self.prefix = [b'{"stream":"' + k + b'","ts":' for k in self.keys]
        self.count = np.zeros(n, dtype=np.int64)
        self.offsets = [0] * PARTITIONS
        self.phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
        self.rng = np.random.default_rng(seed + 1)

    def batch(self, streams: np.ndarray) -> list[RawRecord]:
        out = []
        noise = self.rng.normal(0, 0.3, streams.size)
        for k, e in zip(streams.tolist(), noise.tolist(), strict=True):
            i = int(self.count[k]) + 1
            self.count[k] = i
            v = 10 + 3 * math.sin(2 * math.pi * (WARM_STEPS + i) / 50 + self.phase[k]) + e
            p = k % PARTITIONS
            off = self.offsets[p]
            self.offsets[p] = off + 1
            body = self.prefix[k] + f'{T0 + i:.1f},"value":{v:.5f}}}'.encode()
            out.append(RawRecord(TOPIC, p, off, self.keys[k], body, None))
        return out


class Mix:
    """Which streams the readings come from: uniform, or Zipf with exponent ``s``."""

    def __init__(self, name: str, n: int, s: float, seed: int) -> None:
        self.name, self.n = name, n
        self.rng = np.random.default_rng(seed)
        self.cdf: np.ndarray | None = None
        if name == "zipf":
            w = np.arange(1, n + 1, dtype=np.float64) ** -s
            self.cdf = np.cumsum(w) / w.sum()
            self.rank_to_stream = self.rng.permutation(n)

    def draw(self, size: int) -> np.ndarray:
        if self.cdf is None:
            return self.rng.integers(0, self.n, size)
        ranks = np.searchsorted(self.cdf, self.rng.random(size), side="right")
        return self.rank_to_stream[np.minimum(ranks, self.n - 1)]

    def top_share(self, k: int) -> float:
        """The share of readings from the ``k`` most frequent streams."""
        return k / self.n if self.cdf is None else float(self.cdf[k - 1])


# --- one worker ---------------------------------------------------------------------------


class AckedPublisher:
    """Stands in for Kafka: every message is acknowledged at once."""

    def __init__(self) -> None:
        self.messages = 0

    async def send(self, messages: Sequence[OutMessage]) -> Awaitable[object]:
        self.messages += len(messages)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class CountingStore(RedisCacheStore):
    """The worker's store; counts load calls and keeps the streams loaded since ``take``."""

    load_calls = 0
    loaded: list[str]

    async def load(self, streams: Sequence[str]) -> LoadResult:
        self.load_calls += 1
        self.loaded.extend(streams)
        return await super().load(streams)

    def take(self) -> list[str]:
        loaded, self.loaded = self.loaded, []
        return loaded


@dataclasses.dataclass
class Tally:
    batches: int = 0
    readings: int = 0
    applied: int = 0
    streams: int = 0  # distinct streams per batch, summed
    loaded: int = 0
    missed: int = 0  # readings of streams loaded by their batch
    saved: int = 0
    saves: int = 0
    forced: int = 0
    alerts: int = 0
    decode_s: float = 0.0
    load_s: float = 0.0
    step_s: float = 0.0
    save_s: float = 0.0
    max_per_stream: int = 0  # most readings of one stream in one batch


class Worker:
    """One worker's batch path: detector, hot cache, pipeline and saver task."""

    def __init__(self, spec: Any, weights: Any, ring_dtype: str, slots: int, url: str) -> None:
        self.det = Detector(spec, weights, device="cpu", capacity=slots, ring_dtype=ring_dtype)
        layout = self.det.layout
        self.bytes_per_stream = layout.ring_bytes + 8 * layout.stats_size
        self.hot = HotCache(self.det.capacity, self.bytes_per_stream, slots * self.bytes_per_stream)
        self.store = CountingStore(url, layout, namespace=NAMESPACE, socket_timeout=300)
        self.store.loaded = []
        self.pipe = BatchPipeline(
            self.det, self.store, AckedPublisher(), self.hot, PipelineConfig()
        )
        self.tally = Tally()
        self.failed: BaseException | None = None
        self._from_saver = False
        original = self.pipe.flush

        async def flush() -> BatchOutcome:  # every save: the saver's and a full cache's
            from_saver, self._from_saver = self._from_saver, False
            out = await original()
            if out.saved:
                self.tally.saves += 1
                self.tally.forced += not from_saver
                self.tally.saved += out.saved
                self.tally.save_s += out.save_s
                self.tally.alerts += out.alerts
            return out

        async def saver_flush() -> None:
            self._from_saver = True
            await flush()

        async def fail(exc: BaseException) -> None:
            self.failed = exc

        self.pipe.flush = flush  # type: ignore[method-assign,unused-ignore]  # _room_for too
        self.saver = Saver(
            saver_flush,
            lambda spans: None,
            fail,
            lambda: self.failed is not None,
            SAVE_INTERVAL_S,
            MAX_UNSAVED,
        )

    async def run(self, batches: list[list[RawRecord]]) -> float:
        """Apply every batch as the consumer does, then the last save; wall seconds."""
        self.tally = t = Tally()
        self.saver.start()
        t0 = time.perf_counter()
        try:
            for records in batches:
                prepared = self.pipe.prepare(records)
                out = await self.pipe.apply(prepared)
                t.batches += 1
                t.readings += out.records
                t.applied += out.applied
                t.streams += len(prepared.groups)
                t.max_per_stream = max(t.max_per_stream, *map(len, prepared.groups.values()))
                t.loaded += out.loaded
                t.missed += sum(len(prepared.groups[s]) for s in self.store.take())
                t.alerts += out.alerts
                t.decode_s += out.decode_s
                t.load_s += out.load_s
                t.step_s += out.step_s
                self.saver.applied({TP(TOPIC, 0): Span(0, out.records - 1, out.records)})
                await self.saver.after_batch()
                if self.failed is not None:
                    raise self.failed
            if not await self.saver.save() or self.failed is not None:
                raise RuntimeError("the last save failed") from self.failed
        finally:
            self.saver.stop()
        return time.perf_counter() - t0

    async def close(self) -> None:
        await self.store.close()


# --- measuring ----------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def net_out(client: aioredis.Redis) -> int:
    return int((await client.info("stats"))["total_net_output_bytes"])


@dataclasses.dataclass
class Result:
    mix: str
    case: str
    slots: int
    rate: float
    hit: float
    hit_readings: float
    loads_per_batch: float
    load_trips_per_batch: float
    bytes_per_reading: float
    loads_per_reading: float
    line: str


def describe(
    mix: str, case: str, w: Worker, t: Tally, wall: float, trips: int, out_b: int, redis_s: float
) -> Result:
    rate = t.saved / wall
    hit = 1 - t.loaded / max(1, t.streams)
    hit_r = 1 - t.missed / max(1, t.readings)
    load_us = f"{1e6 * t.load_s / t.loaded:.0f}" if t.loaded else "-"
    other = wall - t.decode_s - t.load_s - t.step_s - t.save_s
    split = ", ".join(
        f"{name} {100 * s / wall:.0f}%"
        for name, s in (
            ("decode", t.decode_s),
            ("load", t.load_s),
            ("step", t.step_s),
            ("save", t.save_s),
            ("other", other),
        )
    )
    line = (
        f"  {mix:7s} ({case}) cache {w.hot.capacity:,} streams "
        f"({w.hot.capacity * w.bytes_per_stream / 1e9:.2f} GB): {rate:,.0f} readings/s "
        f"({t.saved:,} in {wall:.1f} s); hit rate {100 * hit:.1f}% of a batch's streams, "
        f"{100 * hit_r:.1f}% of readings; loaded "
        f"{t.loaded / t.batches:,.0f} streams/batch in {trips / t.batches:.2f} round trips, "
        f"{t.loaded / t.readings:.3f} per reading, {load_us} us per stream in the load round "
        f"trips; Redis sent {out_b / t.readings:,.0f} B/reading; "
        f"evicted {w.hot.evictions:,}; saves {t.saves} ({t.forced} forced by a full cache), "
        f"{w.store.stats.saved / t.readings:.3f} stream saves/reading; time: {split}; "
        f"redis-server {redis_s / wall:.2f} cores; alerts {t.alerts}; "
        f"most readings of one stream in a batch {t.max_per_stream}"
    )
    return Result(
        mix,
        case,
        w.hot.capacity,
        rate,
        hit,
        hit_r,
        t.loaded / t.batches,
        trips / t.batches,
        out_b / t.readings,
        t.loaded / t.readings,
        line,
    )


async def one_run(
    args: argparse.Namespace,
    spec: Any,
    weights: Any,
    url: str,
    client: aioredis.Redis,
    redis_pid: int,
    data: Readings,
    mix: Mix,
    case: str,
) -> Result:
    n = args.streams
    slots = n if case == "a" else max(1, round(args.fraction * n))
    w = Worker(spec, weights, args.ring_dtype, slots, url)
    try:
        if case == "a":  # a cold start: every stream loaded once, in random order
            order = np.random.default_rng(args.seed + 30).permutation(n)
            pass_ = [data.batch(order[lo : lo + args.batch]) for lo in range(0, n, args.batch)]
            took = await w.run(pass_)
            print(
                f"  {mix.name:7s} ({case}) warm-up pass, every stream loaded once: "
                f"{w.tally.readings / took:,.0f} readings/s, {w.tally.loaded / took:,.0f} "
                f"streams loaded/s ({took:.1f} s)"
            )
        warm = [data.batch(mix.draw(args.batch)) for _ in range(args.warm_batches)]
        await w.run(warm)
        timed = [data.batch(mix.draw(args.batch)) for _ in range(args.readings // args.batch)]
        gc.collect()
        trips0 = w.store.load_calls
        w.hot.evictions = 0
        w.store.stats.saved = 0
        out0, cpu0 = await net_out(client), cpu_s(redis_pid)
        wall = await w.run(timed)
        out_b, redis_s = await net_out(client) - out0, cpu_s(redis_pid) - cpu0
        res = describe(
            mix.name, case, w, w.tally, wall, w.store.load_calls - trips0, out_b, redis_s
        )
        print(res.line, flush=True)
        return res
    finally:
        await w.close()
        del w
        gc.collect()


async def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(DEFAULTS["torch_threads"].default)
    spec, weights = model(args.channels)
    n = args.streams
    with tempfile.TemporaryDirectory() as tmp:
        srv = RedisProc(
            Path(tmp), extra=("--maxmemory", str(args.redis_maxmemory), "--maxmemory-policy",
                              "noeviction"),
        )  # fmt: skip
        srv.start()
        try:
            await measure(args, spec, weights, srv, n)
        finally:
            srv.stop()


async def measure(
    args: argparse.Namespace, spec: Any, weights: Any, srv: RedisProc, n: int
) -> None:
    assert srv.proc is not None
    client = aioredis.Redis.from_url(srv.url, socket_timeout=60)
    probe = Worker(spec, weights, args.ring_dtype, 1, srv.url)
    layout, bps = probe.det.layout, probe.bytes_per_stream
    meta_size = probe.store.codec.meta_size
    await probe.close()
    version = (await client.info("server"))["redis_version"]
    print(
        f"cpus={os.cpu_count()} redis-server {version} ({redis_server_bin()}), no AOF, "
        f"maxmemory {args.redis_maxmemory / 2**30:.1f} GiB; streams={n:,} batch={args.batch:,} "
        f"readings={args.readings:,} per run (+{args.warm_batches} untimed batches); "
        f"save interval {SAVE_INTERVAL_S:g} s, max unsaved {MAX_UNSAVED:,}"
    )
    print(
        f"model: {len(spec.dilations)} blocks, kernel {spec.kernel_size}, {spec.channels} "
        f"channels, {len(layout.ring_shapes)} rings, {layout.ring_dtype}"
        f"{' (the shipped model)' if args.channels == 32 else ' (random weights)'}"
    )
    t0 = time.perf_counter()
    deltas = warm_updates(spec, weights, args.ring_dtype, min(n, 1024))
    store = RedisCacheStore(srv.url, layout, namespace=NAMESPACE, socket_timeout=300)
    data = Readings(n, args.seed)
    took = await store_all(store, data.names, deltas)
    await store.close()
    meta_key, rings_key = redis_store.stream_keys(NAMESPACE, data.names[0])
    usage = sum([await client.memory_usage(k, samples=0) or 0 for k in (meta_key, rings_key)])
    used = int((await client.info("memory"))["used_memory"])
    shipped_spec = load_checkpoint(None)[0]
    shipped = dataclasses.replace(
        layout, ring_shapes=shipped_spec.ring_shapes, ring_dtype="float32"
    )
    shipped_values = shipped.ring_bytes + StateCodec(shipped).meta_size
    print(
        f"per stream: Redis values {layout.ring_bytes + meta_size:,} B (rings "
        f"{layout.ring_bytes:,}, meta {meta_size:,}), MEMORY USAGE {usage:,} B; hot cache "
        f"{bps:,} B (rings + stats {8 * layout.stats_size:,}); the shipped model in float32: "
        f"{shipped_values:,} / {shipped.ring_bytes + 8 * shipped.stats_size:,} B, "
        f"{shipped_values / (layout.ring_bytes + meta_size):.1f}x these"
    )
    print(
        f"stored {n:,} warm states in {took:.1f} s (total {time.perf_counter() - t0:.1f} s); "
        f"Redis used_memory {used / 2**30:.2f} GiB"
    )
    mixes = [Mix("uniform", n, 0.0, args.seed + 10), Mix("zipf", n, args.zipf, args.seed + 20)]
    cache_b = max(1, round(args.fraction * n))
    for m in mixes:
        print(
            f"{m.name}: the {cache_b:,} most frequent streams ({100 * args.fraction:g}%) send "
            f"{100 * m.top_share(cache_b):.1f}% of the readings"
            + (f" (s={args.zipf:g}; the most frequent one {100 * m.top_share(1):.2f}%)"
               if m.cdf is not None else "")
        )  # fmt: skip
    results: list[Result] = []
    for m in mixes:
        for case in args.order:
            results.append(
                await one_run(args, spec, weights, srv.url, client, srv.proc.pid, data, m, case)
            )
    print("summary, (b) against (a), means of each case's runs:")
    for m in mixes:
        a = [r for r in results if r.mix == m.name and r.case == "a"]
        b = [r for r in results if r.mix == m.name and r.case == "b"]
        if not a or not b:
            continue
        ra, rb = (sum(r.rate for r in x) / len(x) for x in (a, b))
        la, lb = (sum(r.loads_per_reading for r in x) / len(x) for x in (a, b))
        ha, hb = (sum(r.hit for r in x) / len(x) for x in (a, b))
        hra, hrb = (sum(r.hit_readings for r in x) / len(x) for x in (a, b))
        ba, bb = (sum(r.bytes_per_reading for r in x) / len(x) for x in (a, b))
        per_load = (1 / rb - 1 / ra) / (lb - la) if lb > la else math.nan
        print(
            f"  {m.name:7s}: (a) {ra:,.0f} readings/s, hit {100 * ha:.1f}% / {100 * hra:.1f}%, "
            f"{ba:,.0f} B/reading; (b) {rb:,.0f} readings/s, hit {100 * hb:.1f}% / "
            f"{100 * hrb:.1f}% (streams / readings), {bb:,.0f} B/reading; "
            f"ratio (b)/(a) {rb / ra:.2f} (runs: "
            f"{', '.join(f'{r.case} {r.rate:,.0f}' for r in a + b)}); "
            f"extra time per stream loaded {1e6 * per_load:.0f} us"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    mem = await client.info("memory")
    print(
        f"peak RSS of this process {peak:.2f} GiB; Redis used_memory "
        f"{int(mem['used_memory']) / 2**30:.2f} GiB, "
        f"RSS {int(mem['used_memory_rss']) / 2**30:.2f} GiB"
    )
    await client.aclose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--streams", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=0, help="records per batch (0: streams / 20)")
    ap.add_argument(
        "--readings", type=int, default=0, help="timed readings per run (0: 2 x streams)"
    )
    ap.add_argument(
        "--warm-batches",
        type=int,
        default=0,
        help="untimed batches per run (0: enough for twice the cache (b), at least 4)",
    )
    ap.add_argument("--fraction", type=float, default=0.1, help="streams the cache (b) holds")
    ap.add_argument("--zipf", type=float, default=1.0, help="exponent s of the Zipf mix")
    ap.add_argument("--order", default="abba", help="cases in order, each run a fresh worker")
    ap.add_argument("--channels", type=int, default=8, help="32: the shipped model")
    ap.add_argument("--ring-dtype", choices=RING_DTYPES, default=DEFAULT_RING_DTYPE)
    ap.add_argument("--redis-maxmemory", type=int, default=4 * 2**30, help="bytes")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if set(args.order) - {"a", "b"}:
        ap.error("--order is a string of a and b")
    args.batch = args.batch or max(100, args.streams // 20)
    args.readings = args.readings or 2 * args.streams
    cache_b = max(1, round(args.fraction * args.streams))
    args.warm_batches = args.warm_batches or max(4, math.ceil(2 * cache_b / args.batch))
    return args


def main() -> None:
    args = parse_args()
    tune_gc(DEFAULTS["gc_gen0_threshold"].default)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
