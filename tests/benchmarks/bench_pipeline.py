"""Worker throughput and latency on the embedded stack (tansu + redis-server), one worker.

Measured in one run, on the same broker and the same pre-produced readings:

1. raw aiokafka: consume + ``decode_batch`` (the ceiling for any Python consumer here);
2. a trivial faust agent (``async for`` over a stream, per-event path);
3. ``tcnad worker`` (a subprocess, default model): decode, score, alerts, Redis save and
   offset commit, sustained readings/s from its Prometheus counter, and the microseconds
   per reading its batches spent in each stage (``tcnad_batch_stage_seconds``);
4. latency produce -> alert at half the sustained rate: readings, produced by a separate
   process, carry the moment they were due as ``ts``, anomalies are injected, and every
   alert's arrival time minus its ``ts``;
5. the floor: the same production timed to a plain consumer of the readings (no worker);
6. the two-hop floor: the same production, a relay process (a plain aiokafka consumer with
   the worker's fetch wait and a producer with faust's defaults) forwards every 500th
   reading untouched to another topic, timed to a consumer of that topic like the alerts:
   the path of an alert with nothing computed on the way;
7. the same two-hop floor through the worker's own topics (its readings -> relay -> its
   alerts), right after its latency phase: the embedded broker's fetches slow with the
   small record batches a partition holds, which fresh topics lack. It is biased in the
   worker's favour (its topics then hold the whole latency phase), the floor of 6 against
   it; the worker's p99 is printed over both.

Run:  python tests/benchmarks/bench_pipeline.py [--streams 1000] [--per-stream 1000]
      [--partitions 8] [--latency-rate R] [--worker-env TCNAD_NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import math
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from tcnad.topology.devstack.processes import ManagedProcess  # noqa: E402
from tcnad.topology.devstack.stack import EmbeddedStack  # noqa: E402
from tcnad.topology.kafka_io import ensure_topics  # noqa: E402
from tcnad.topology.settings import Settings  # noqa: E402
from tcnad.topology.wire.decode import RawRecord, decode_batch  # noqa: E402
from tcnad.topology.worker.app import faust_datadir  # noqa: E402
from tcnad.topology.worker.metrics import STAGES  # noqa: E402
from tests.proc_helpers import stat_fields  # noqa: E402

DEFAULT_PARTITIONS = 8
LINGER_S = 0.005  # the paced producer sends what is due every 5 ms
WORKER_FETCH_WAIT_MS = Settings.model_fields["fetch_max_wait_ms"].default


def reading(stream: str, ts: float, value: float) -> bytes:
    return json.dumps({"stream": stream, "ts": ts, "value": round(value, 5)}).encode()


def value_at(k: int, i: int, rng: random.Random) -> float:
    return 10.0 + 3.0 * math.sin(2 * math.pi * i / 50.0 + k) + rng.gauss(0.0, 0.3)


async def produce_backlog(bootstrap: str, topic: str, streams: int, per_stream: int) -> int:
    """``streams * per_stream`` readings, streams interleaved, ts = 1.7e9 + i."""
    rng = random.Random(1)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        futures = []
        for i in range(per_stream):
            for k in range(streams):
                s = f"bench-{k:05d}"
                body = reading(s, 1.7e9 + i, value_at(k, i, rng))
                futures.append(await producer.send(topic, body, key=s.encode()))
            if len(futures) > 50_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return streams * per_stream


async def raw_consume(
    bootstrap: str, topic: str, total: int, partitions: int, decode: bool = True
) -> float:
    """Readings/s of aiokafka getmany (+ decode_batch) over the whole backlog."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        n = 0
        t0 = time.perf_counter()
        while n < total:
            batch = await consumer.getmany(timeout_ms=2000, max_records=50_000)
            recs = [
                RawRecord(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                for rs in batch.values()
                for r in rs
            ]
            if decode:
                decode_batch(recs, 1)
            n += len(recs)
        return n / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


def trivial_faust(bootstrap: str, topic: str, total: int, log_dir: Path) -> float:
    """Readings/s of a faust agent that only counts its events (per-event path)."""
    script = log_dir / "trivial_faust.py"
    script.write_text(TRIVIAL_FAUST)
    out = log_dir / "trivial_faust.out"
    datadir = Path(tempfile.mkdtemp(prefix="tcnad-trivial-faust-"))
    proc = ManagedProcess(
        "trivial-faust",
        [sys.executable, str(script), bootstrap, topic, str(total), str(out), str(datadir)],
        log_dir / "trivial_faust.log",
        cwd=log_dir,
    )
    proc.start()
    try:
        proc.wait(timeout=600)
    finally:
        proc.stop()
        shutil.rmtree(datadir, ignore_errors=True)
    return float(out.read_text())


TRIVIAL_FAUST = """
import os, sys, time, faust
bootstrap, topic, total, out, datadir = sys.argv[1:6]
total = int(total)
app = faust.App(f"trivial-{time.time_ns()}", broker=f"kafka://{bootstrap}", value_serializer="raw",
                web_enabled=False, broker_session_timeout=6, broker_heartbeat_interval=1,
                topic_disable_leader=True, table_standby_replicas=0,
                consumer_auto_offset_reset="earliest",
                datadir=datadir)
t = app.topic(topic, value_serializer="raw")
state = {"n": 0, "t0": 0.0}
@app.agent(t)
async def count(stream):
    async for _ in stream:
        if state["n"] == 0:
            state["t0"] = time.perf_counter()
        state["n"] += 1
        if state["n"] == total:
            with open(out, "w") as f:
                f.write(str((total - 1) / (time.perf_counter() - state["t0"])))
            os._exit(0)
faust.Worker(app, loglevel="warn", quiet=True).execute_from_commandline()
"""


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, v = line.rpartition(" ")
            values[name] = float(v)
    return values


def metric_delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    """How much a scraped sample grew between two scrapes (0 where absent)."""
    return after.get(name, 0.0) - before.get(name, 0.0)


def stage_costs(before: dict[str, float], after: dict[str, float]) -> str:
    """Microseconds per applied reading in each stage of the worker's batches
    (``tcnad_batch_stage_seconds``) and in the rest of its batch time, between two
    scrapes."""
    delta = functools.partial(metric_delta, before, after)
    n = delta("tcnad_readings_applied_total")
    if n <= 0:
        return "stages: no readings applied"
    spent = {s: delta(f'tcnad_batch_stage_seconds_total{{stage="{s}"}}') for s in STAGES}
    total = delta("tcnad_batch_seconds_sum")
    spent["rest"] = total - sum(spent.values())
    parts = ", ".join(f"{s} {1e6 * t / n:.2f}" for s, t in spent.items())
    return f"us per reading in its batch: {parts}; total {1e6 * total / n:.2f}"


def batch_ages(before: dict[str, float], after: dict[str, float]) -> str:
    """The worker's record-age histograms between two scrapes: the age (from its Kafka
    timestamp) of a batch's oldest record when the worker received the batch and when the
    batch's alerts were out; mean, and the share of batches over 100 ms."""
    delta = functools.partial(metric_delta, before, after)

    parts = []
    for what, metric in (
        ("received", "tcnad_fetch_age_seconds"),
        ("alerts out", "tcnad_record_age_seconds"),
    ):
        n = delta(f"{metric}_count")
        mean = delta(f"{metric}_sum") / max(n, 1.0)
        over = n - delta(f'{metric}_bucket{{le="0.1"}}')
        parts.append(f"{what} {1e3 * mean:.1f}ms (over 100ms: {100 * over / max(n, 1.0):.0f}%)")
    n = delta("tcnad_record_age_seconds_count")
    return (
        f"age of a batch's oldest record (Kafka timestamp), mean over {n:.0f} batches: "
        + ", ".join(parts)
    )


def worker_fetch_wait(settings: list[str]) -> int:
    """The worker's fetch wait (ms): a ``--worker-env`` override, else the default. The
    floors use it too, so that they measure the path the worker's fetches take."""
    for item in settings:
        name, _, value = item.partition("=")
        if name == "TCNAD_FETCH_MAX_WAIT_MS":
            return int(value)
    return int(WORKER_FETCH_WAIT_MS)


def gc_pauses(before: dict[str, float], after: dict[str, float]) -> str:
    """The worker's collector pauses between two scrapes, per generation: how many, their
    mean and the share over 10 ms."""
    delta = functools.partial(metric_delta, before, after)

    parts = []
    for gen in range(3):
        label = f'generation="{gen}"'
        n = delta(f"tcnad_gc_pause_seconds_count{{{label}}}")
        if n:
            mean = delta(f"tcnad_gc_pause_seconds_sum{{{label}}}") / n
            over = n - delta(f'tcnad_gc_pause_seconds_bucket{{{label},le="0.01"}}')
            parts.append(f"gen{gen} {n:.0f} x {1e3 * mean:.1f}ms (over 10ms: {over:.0f})")
    return "collector pauses: " + (", ".join(parts) or "none")


def loop_lag(before: dict[str, float], after: dict[str, float]) -> str:
    """How late the worker's 50 ms event-loop timer fired between two scrapes."""
    delta = functools.partial(metric_delta, before, after)
    n = delta("tcnad_event_loop_lag_seconds_count")
    if not n:
        return "event loop lag: no probes"
    mean = delta("tcnad_event_loop_lag_seconds_sum") / n
    over = {
        ms: n - delta(f'tcnad_event_loop_lag_seconds_bucket{{le="{ms / 1000:g}"}}')
        for ms in (10, 25, 50)
    }
    shares = ", ".join(f"over {ms}ms {100 * k / n:.0f}%" for ms, k in over.items())
    return f"event loop lag: {n:.0f} probes, mean {1e3 * mean:.1f}ms, {shares}"


def worker_env(
    stack: EmbeddedStack, topic: str, partitions: int, port: int, settings: list[str]
) -> dict[str, str]:
    """The worker's environment: the stack's addresses, then ``settings`` (NAME=VALUE,
    applied last)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCNAD_")}
    for item in settings:
        name, sep, _ = item.partition("=")
        if not sep or not name.startswith("TCNAD_"):
            raise SystemExit(f"--worker-env wants TCNAD_NAME=VALUE, got {item!r}")
    env.update(
        TCNAD_KAFKA_BOOTSTRAP=stack.kafka_bootstrap,
        TCNAD_REDIS_URL=stack.redis_url,
        TCNAD_READINGS_TOPIC=topic,
        TCNAD_ALERTS_TOPIC=f"{topic}-alerts",
        TCNAD_DLQ_TOPIC=f"{topic}-dlq",
        TCNAD_GROUP_ID=f"{topic}-group",
        TCNAD_NAMESPACE=topic,
        TCNAD_PARTITIONS=str(partitions),
        TCNAD_METRICS_PORT=str(port),
        TCNAD_SESSION_TIMEOUT_S="6",
        PYTHONUNBUFFERED="1",
    )
    env.update(item.partition("=")[::2] for item in settings)
    return env


def sustained_rate(port: int, total: int, proc: ManagedProcess) -> tuple[float, float]:
    """(readings/s between the first saved readings and the last, seconds taken)."""
    key = "tcnad_readings_saved_total"  # applied, alerts published and state saved
    first: tuple[float, float] | None = None
    while True:
        if not proc.running:
            raise RuntimeError(f"worker exited:\n{proc.log_tail(40)}")
        try:
            n = scrape(port).get(key, 0.0)
        except OSError:
            n = 0.0
        now = time.perf_counter()
        if n > 0 and first is None:
            first = (now, n)
        if n >= total and first is not None:
            dt = now - first[0]
            if dt <= 0.0:
                raise RuntimeError(
                    f"all {total} readings were saved at once, so there is no sustained window "
                    "to measure: give the worker more readings (--streams, --per-stream)"
                )
            return (n - first[1]) / dt, dt
        time.sleep(0.1)


def pending(sent: list[asyncio.Future[Any]]) -> list[asyncio.Future[Any]]:
    """The sends not completed yet; raises if the broker refused a completed one."""
    for f in sent:
        if f.done():
            f.result()
    return [f for f in sent if not f.done()]


def reap(proc: Any) -> None:
    """Wait for a helper process to end; kill it if it has not within 10 s."""
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
        proc.join()


async def paced_produce(
    bootstrap: str, topic: str, streams: int, rate: float, seconds: float, spikes: bool
) -> int:
    """Produce at ``rate`` for ``seconds``. Reading ``i`` is due at ``i / rate`` and carries
    that moment as ``ts``; every ``LINGER_S`` the readings due are sent as one record batch
    per partition (key-hashed like ``producer.send``), so their wait for the send counts in
    the latency. Built batches keep the generator's own CPU small (a per-message ``send``
    costs ~25 us, most of a core at these rates), and a linger, as real producers use,
    keeps the broker's per-batch work from taking a core by itself."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        parts = sorted(await producer.partitions_for(topic))
        partitioner = DefaultPartitioner()
        names = [f"bench-{k:05d}" for k in range(streams)]
        keys = [name.encode() for name in names]
        part_of = [partitioner(key, parts, parts) for key in keys]
        rng = random.Random(2)
        sent: list[asyncio.Future[Any]] = []
        i = 0
        wall0, t0 = time.time(), time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            await asyncio.sleep(LINGER_S)
            batches: dict[int, Any] = {}
            for _ in range(int(elapsed * rate) - i):
                k = i % streams
                v = value_at(k, 10_000 + i // streams, rng)
                if spikes and rng.random() < 0.002:
                    v += 40.0
                p = part_of[k]
                batch = batches.get(p)
                if batch is None:
                    batch = batches[p] = producer.create_batch()
                value = reading(names[k], wall0 + i / rate, v)
                if batch.append(key=keys[k], value=value, timestamp=None) is None:
                    sent.append(await producer.send_batch(batch, topic, partition=p))
                    batch = batches[p] = producer.create_batch()
                    batch.append(key=keys[k], value=value, timestamp=None)
                i += 1
            for p, batch in batches.items():
                sent.append(await producer.send_batch(batch, topic, partition=p))
            sent = pending(sent)
        await asyncio.gather(*sent)
        return i
    finally:
        await producer.stop()


def _paced_process(*args: Any) -> None:
    # A load generator's own collector pauses (100-190 ms for a full collection of this
    # process, measured) would count as latency: reference counting frees what it drops.
    gc.disable()
    asyncio.run(paced_produce(*args))


async def latency_run(
    bootstrap: str,
    topic: str,
    streams: int,
    rate: float,
    seconds: float,
    listen: str = "",
    fetch_max_wait_ms: int = 5,
    spikes: bool | None = None,
) -> list[tuple[float, float]]:
    """Produce at ``rate`` with ts = the moment each reading was due, spikes in random
    streams (``paced_produce`` in a separate process, so that producing and timing do not
    share an event loop); returns the
    ``(due, latency)`` of every message received on ``listen``, in seconds, ``due`` counted
    from the first message's, sorted by it (default ``listen``: the
    alerts topic; the readings topic itself gives the broker's floor). ``spikes``: inject
    anomalies (default: when listening to the alerts)."""
    consumer = AIOKafkaConsumer(
        listen or f"{topic}-alerts",
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        group_id=None,
    )
    await consumer.start()
    await asyncio.sleep(1.0)
    latencies: list[tuple[float, float]] = []  # (due time, latency)
    started = time.time()
    gc.collect()
    gc.disable()  # no collector pause of this process between an arrival and its timing
    ctx = multiprocessing.get_context("spawn")
    producer = ctx.Process(
        target=_paced_process,
        args=(bootstrap, topic, streams, rate, seconds, not listen if spikes is None else spikes),
    )
    producer.start()
    try:
        stop_at = None
        while stop_at is None or time.monotonic() < stop_at:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for recs in batch.values():
                for r in recs:
                    ts = float(json.loads(r.value)["ts"])
                    if ts >= started:  # not an alert of the backlog (synthetic ts)
                        latencies.append((ts, now - ts))
            if stop_at is None and not producer.is_alive():
                stop_at = time.monotonic() + 3.0
    finally:
        reap(producer)
        await consumer.stop()
        gc.enable()
    if producer.exitcode != 0:
        raise RuntimeError(f"the paced producer failed (exit code {producer.exitcode})")
    first = min((due for due, _ in latencies), default=0.0)
    return sorted((due - first, lat) for due, lat in latencies)


RELAY_EVERY = 500  # the relay forwards one reading in 500 (about the alerts' share)


async def relay(
    bootstrap: str, src: str, dst: str, ready: Any, stop: Any, fetch_max_wait_ms: int
) -> None:
    """Forward every ``RELAY_EVERY``-th record of ``src`` (by offset) untouched to the same
    partition of ``dst`` as soon as it is fetched, until ``stop`` is set."""
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=Settings.model_fields["fetch_max_bytes"].default,
        group_id=None,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await consumer.start()
    await producer.start()
    try:
        await consumer.getmany(timeout_ms=500)  # positions resolved: at the end of src
        ready.set()
        sent: list[asyncio.Future[Any]] = []
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=100)
            for tp, recs in fetched.items():
                for r in recs:
                    if r.offset % RELAY_EVERY == 0:
                        sent.append(
                            await producer.send(dst, r.value, key=r.key, partition=tp.partition)
                        )
            sent = pending(sent)
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
        await consumer.stop()


def _relay_process(*args: Any) -> None:
    gc.disable()  # a floor: no collector pauses of the relay
    asyncio.run(relay(*args))


def two_hop_floor(
    bootstrap: str,
    topic: str,
    partitions: int,
    streams: int,
    rate: float,
    seconds: float,
    fetch_max_wait_ms: int,
    through: tuple[str, str] | None = None,
) -> list[tuple[float, float]]:
    """Latencies produce -> relay -> consumer of the relayed topic (see ``relay``): from
    ``{topic}-hop1`` to ``{topic}-hop2``, or through the two topics ``through`` names."""
    src, dst = through or (f"{topic}-hop1", f"{topic}-hop2")
    asyncio.run(ensure_topics(bootstrap, {src: partitions, dst: partitions}))
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(
        target=_relay_process, args=(bootstrap, src, dst, ready, stop, fetch_max_wait_ms)
    )
    proc.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the relay did not start")
        return asyncio.run(
            latency_run(bootstrap, src, streams, rate, seconds, listen=dst, spikes=False)
        )
    finally:
        stop.set()
        reap(proc)


def _proc_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of a process so far, from /proc (NaN where unknown)."""
    try:
        if pid is None:
            return math.nan
        fields = stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return math.nan


def _machine_busy_s() -> float:
    """CPU seconds all cores spent not idle so far (/proc/stat; NaN where unknown)."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def _main_thread_sched(pid: int | None) -> tuple[float, float, float]:
    """A process's main thread so far: seconds on a core, seconds runnable but waiting for
    one (``/proc/PID/task/PID/schedstat``), and voluntary context switches (sleeps: I/O,
    locks, the GIL) from ``.../status``. NaN where unknown."""
    try:
        run_ns, wait_ns, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
        status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
        vol = next(
            int(line.split()[1])
            for line in status.splitlines()
            if line.startswith("voluntary_ctxt_switches")
        )
        return int(run_ns) / 1e9, int(wait_ns) / 1e9, float(vol)
    except (OSError, ValueError, StopIteration, TypeError):
        return math.nan, math.nan, math.nan


class CpuMeter:
    """Cores used by named processes, and by the whole machine, over a phase; for the
    process named in ``thread_of``, where its main thread's time went."""

    def __init__(self, pids: dict[str, int | None], thread_of: str = "") -> None:
        self.pids = pids
        self.thread_of = thread_of
        self.t0 = time.monotonic()
        self.start = {name: _proc_cpu_s(pid) for name, pid in pids.items()}
        self.busy0 = _machine_busy_s()
        self.sched0 = _main_thread_sched(pids.get(thread_of))

    def report(self) -> str:
        dt = time.monotonic() - self.t0
        parts = [
            f"{name} {(_proc_cpu_s(pid) - self.start[name]) / dt:.2f}"
            for name, pid in self.pids.items()
        ]
        machine = (_machine_busy_s() - self.busy0) / dt
        out = f"cores used: {', '.join(parts)}, machine {machine:.2f} of {os.cpu_count()}"
        if self.thread_of:
            run, wait, vol = (
                b - a
                for a, b in zip(
                    self.sched0, _main_thread_sched(self.pids[self.thread_of]), strict=True
                )
            )
            out += (
                f"; {self.thread_of}'s main thread: on a core {run / dt:.0%}, runnable and "
                f"waiting for one {wait / dt:.0%}, asleep {1 - (run + wait) / dt:.0%} "
                f"(event loop idle, the GIL, locks; {vol / dt:,.0f} sleeps/s)"
            )
        return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


PHASE_PARTS = 4  # latency figures are also given per quarter of a phase (by due time)


def describe(samples: list[tuple[float, float]], seconds: float) -> str:
    """p50 / p99 over the whole phase, then per quarter of it: the embedded broker's cost
    per request grows with the record batches a partition holds, so a phase's figures
    drift upwards with its length, worker or not (compare the floors' quarters)."""
    lat = [x for _, x in samples]
    parts = []
    for k in range(PHASE_PARTS):
        lo, hi = k * seconds / PHASE_PARTS, (k + 1) * seconds / PHASE_PARTS
        part = [x for due, x in samples if lo <= due < hi or (k == PHASE_PARTS - 1 and due >= hi)]
        parts.append(f"{pct(part, 0.5) * 1e3:.0f}/{pct(part, 0.99) * 1e3:.0f}")
    return (
        f"n={len(lat)} p50={pct(lat, 0.5) * 1e3:.1f}ms p99={pct(lat, 0.99) * 1e3:.1f}ms "
        f"(p50/p99 ms by quarter of the phase: {' '.join(parts)})"
    )


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--per-stream", type=int, default=1000)
    ap.add_argument("--faust-records", type=int, default=30_000)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument(
        "--latency-rate",
        type=float,
        default=0.0,
        help="readings/s of the latency and floor phases (default 0: half the sustained rate)",
    )
    ap.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help=f"partitions of every topic (default {DEFAULT_PARTITIONS})",
    )
    ap.add_argument(
        "--dump-latencies",
        type=Path,
        default=None,
        metavar="FILE",
        help="write every alert's (due s, latency s) of the latency phase as CSV",
    )
    ap.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="TCNAD_NAME=VALUE",
        help="a worker setting (repeatable), e.g. TCNAD_GC_GEN0_THRESHOLD=0",
    )
    return ap.parse_args()


def run_worker_phases(
    stack: EmbeddedStack, topic: str, total: int, args: argparse.Namespace, log_dir: Path
) -> tuple[float, float, list[tuple[float, float]]]:
    """Sustained rate over the backlog, then the latency run at ``--latency-rate`` (default
    half the sustained rate), reported at once. Returns both rates and the latencies."""
    port = free_port()
    proc = ManagedProcess(
        "worker",
        [sys.executable, "-m", "tcnad.topology.cli", "worker", "-l", "warn"],
        log_dir / "worker.log",
        worker_env(stack, topic, args.partitions, port, args.worker_env),
        REPO,
    )
    proc.start()
    try:
        rate, took = sustained_rate(port, total, proc)
        print(f"tcnad worker sustained: {rate:,.0f} readings/s ({total} in {took:.1f}s)")
        print(f"tcnad worker sustained, {stage_costs({}, scrape(port))}")
        lat_rate = args.latency_rate or rate / 2
        before = scrape(port)
        alerts = before.get("tcnad_alerts_total", 0.0)
        print(f"tcnad worker sustained, alerts published: {alerts:.0f}")
        meter = CpuMeter(
            {"worker": proc.pid, "broker": stack.kafka.pid, "redis": stack.redis.pid},
            thread_of="worker",
        )
        lat = asyncio.run(
            latency_run(stack.kafka_bootstrap, topic, args.streams, lat_rate, args.latency_seconds)
        )
        print(f"latency run, {meter.report()}")
        after = scrape(port)
        print(f"latency run, in the worker: {batch_ages(before, after)}")
        print(f"latency run, in the worker: {gc_pauses(before, after)}")
        print(f"latency run, in the worker: {loop_lag(before, after)}")
        print(
            "latency run, alerts published: "
            f"{metric_delta(before, after, 'tcnad_alerts_total'):.0f}"
        )
        report_worker(lat_rate, lat, args.latency_seconds, after)  # now: a cut run keeps it
        return rate, lat_rate, lat
    finally:
        proc.stop()
        shutil.rmtree(faust_datadir(f"{topic}-group"), ignore_errors=True)


def report_worker(
    lat_rate: float, lat: list[tuple[float, float]], seconds: float, m: dict[str, float]
) -> None:
    """The alert latency of the latency phase and the worker's batch and save means (from
    its metrics after that phase: the sustained and the latency runs together)."""

    def mean(name: str) -> float:
        return m.get(f"{name}_sum", 0.0) / max(1.0, m.get(f"{name}_count", 1.0))

    print(f"latency produce->alert at {lat_rate:,.0f} readings/s: {describe(lat, seconds)}")
    print(
        f"worker: batches={m.get('tcnad_batch_size_count', 0):.0f} "
        f"mean batch={mean('tcnad_batch_size'):.0f} records, "
        f"mean batch time={1e3 * mean('tcnad_batch_seconds'):.1f}ms, "
        f"state save mean={1e3 * mean('tcnad_state_save_seconds'):.1f}ms"
    )


def main() -> None:
    args = parse_args()
    partitions = args.partitions
    log_dir = Path(tempfile.mkdtemp(prefix="tcnad-bench-"))
    print(f"cpus={os.cpu_count()} partitions={partitions} logs={log_dir}")
    with EmbeddedStack(log_dir=log_dir) as stack:
        bootstrap = stack.kafka_bootstrap
        topic = f"bench-{time.time_ns()}"
        asyncio.run(ensure_topics(bootstrap, {topic: partitions}))
        t0 = time.perf_counter()
        total = asyncio.run(produce_backlog(bootstrap, topic, args.streams, args.per_stream))
        print(f"produced {total} readings in {time.perf_counter() - t0:.1f}s")
        consume = asyncio.run(raw_consume(bootstrap, topic, total, partitions, decode=False))
        print(f"raw aiokafka consume only: {consume:,.0f} readings/s")
        raw = asyncio.run(raw_consume(bootstrap, topic, total, partitions))
        print(f"raw aiokafka consume+decode: {raw:,.0f} readings/s")
        trivial = trivial_faust(bootstrap, topic, args.faust_records, log_dir)
        print(f"trivial faust agent: {trivial:,.0f} readings/s")
        rate, lat_rate, lat = run_worker_phases(stack, topic, total, args, log_dir)
        fetch_wait = worker_fetch_wait(args.worker_env)
        # At once, the two-hop floor through the worker's own topics, as it left them: this
        # broker's latency rises with the small record batches a partition holds (the
        # latency phase's readings), which the fresh topics of the floors below lack.
        meter = CpuMeter({"broker": stack.kafka.pid})
        own = two_hop_floor(
            bootstrap,
            topic,
            partitions,
            args.streams,
            lat_rate,
            args.latency_seconds,
            fetch_wait,
            through=(topic, f"{topic}-alerts"),
        )
        print(
            f"two-hop floor through the worker's topics (its readings -> relay -> its alerts, "
            f"after its latency phase): {describe(own, args.latency_seconds)}; {meter.report()}"
        )
        if args.dump_latencies is not None:
            args.dump_latencies.write_text(
                "due_s,latency_s\n" + "".join(f"{d:.6f},{v:.6f}\n" for d, v in lat)
            )
        raw_after = asyncio.run(raw_consume(bootstrap, topic, total, partitions))
        print(f"raw aiokafka consume+decode, again after the worker: {raw_after:,.0f} readings/s")
        floor_topic = f"{topic}-floor"
        asyncio.run(ensure_topics(bootstrap, {floor_topic: partitions}))
        meter = CpuMeter({"broker": stack.kafka.pid})
        floor = asyncio.run(
            latency_run(
                bootstrap,
                floor_topic,
                args.streams,
                lat_rate,
                args.latency_seconds,
                listen=floor_topic,
                fetch_max_wait_ms=fetch_wait,
            )
        )
        print(
            f"floor: produce->plain aiokafka consumer of the readings at {lat_rate:,.0f}/s "
            f"(no worker; fetch_max_wait_ms={fetch_wait}): "
            f"{describe(floor, args.latency_seconds)}; {meter.report()}"
        )
        meter = CpuMeter({"broker": stack.kafka.pid})
        hops = two_hop_floor(
            bootstrap, topic, partitions, args.streams, lat_rate, args.latency_seconds, fetch_wait
        )
        print(
            f"two-hop floor: produce->relay (fetch_max_wait_ms={fetch_wait}, every "
            f"{RELAY_EVERY}th reading forwarded)->consumer at {lat_rate:,.0f}/s: "
            f"{describe(hops, args.latency_seconds)}; {meter.report()}"
        )

    def p99_ms(samples: list[tuple[float, float]]) -> float:
        return pct([x for _, x in samples], 0.99) * 1e3

    worker = p99_ms(lat)
    print(
        f"worker p99 over the two-hop floors: {worker - p99_ms(hops):+.1f} ms (fresh topics), "
        f"{worker - p99_ms(own):+.1f} ms (the worker's topics)"
    )
    print(
        f"ratio worker/raw consume+decode (mean of both)={rate / ((raw + raw_after) / 2):.2f} "
        f"worker/trivial-faust={rate / trivial:.1f}"
    )


def free_port() -> int:
    from tcnad.topology.devstack.stack import free_port as fp

    return fp()


if __name__ == "__main__":
    main()
