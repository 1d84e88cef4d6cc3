"""Helpers for the worker integration tests: `tcnad worker` subprocesses, producing
readings, reading topics back, and the reference states computed by the Detector directly."""

from __future__ import annotations

import asyncio
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tcnad.detector.state import DEFAULT_RING_DTYPE, StateLayout, StreamState
from tcnad.state.redis_store import RedisCacheStore
from tcnad.state.types import StreamRecord
from tcnad.topology.devstack.processes import ManagedProcess
from tcnad.topology.kafka_io import ensure_topics

if TYPE_CHECKING:
    from tcnad.detector.scoring.layout import StatsLayout

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 4


@dataclass
class Topics:
    readings: str
    alerts: str
    dlq: str
    group: str
    namespace: str


def topics_for(name: str) -> Topics:
    return Topics(f"r-{name}", f"a-{name}", f"d-{name}", f"g-{name}", f"ns-{name}")


def worker_env(
    kafka: str, redis_url: str, t: Topics, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TCNAD_")}
    env.update(
        {
            "TCNAD_KAFKA_BOOTSTRAP": kafka,
            "TCNAD_REDIS_URL": redis_url,
            "TCNAD_READINGS_TOPIC": t.readings,
            "TCNAD_ALERTS_TOPIC": t.alerts,
            "TCNAD_DLQ_TOPIC": t.dlq,
            "TCNAD_GROUP_ID": t.group,
            "TCNAD_NAMESPACE": t.namespace,
            "TCNAD_PARTITIONS": str(PARTITIONS),
            "TCNAD_METRICS_PORT": "0",
            "TCNAD_SESSION_TIMEOUT_S": "4",
            # The workers' device: CPU unless TCNAD_TEST_WORKER_DEVICE names another (cuda).
            "TCNAD_DEVICE": os.environ.get("TCNAD_TEST_WORKER_DEVICE", "cpu"),
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Workers:
    """`tcnad worker` subprocesses; ``stop_all`` (fixture teardown) stops each by PID."""

    env: dict[str, str]
    log_dir: Path
    procs: list[ManagedProcess] = field(default_factory=list)

    def start(self) -> ManagedProcess:
        i = len(self.procs)
        argv = [sys.executable, "-m", "tcnad.topology.cli", "worker", "-l", "info"]
        proc = ManagedProcess(f"worker{i}", argv, self.log_dir / f"worker{i}.log", self.env, REPO)
        proc.start()
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM to every worker at once (one shutdown, not one rebalance per worker),
        then wait for each, SIGKILL after the grace period."""
        import signal

        for proc in self.procs:
            if proc.running:
                proc.signal(signal.SIGTERM)
        for proc in self.procs:
            if proc.pid is not None:
                proc.stop(grace_s=15.0)
        import shutil

        from tcnad.topology.worker.app import faust_datadir

        shutil.rmtree(faust_datadir(self.env["TCNAD_GROUP_ID"]), ignore_errors=True)

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid})\n{p.log_tail(lines)}" for p in self.procs)


# --- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One stream's readings: values and timestamps (epoch seconds)."""

    stream: str
    ts: list[float]
    values: list[float]


def make_series(
    stream: str, n: int, seed: int, spike_at: int | None = None, spike: float = 12.0
) -> Series:
    """A noisy seasonal stream; optionally one spike of ``spike`` noise sigmas at index
    ``spike_at`` (and the two readings after it)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = 20.0 + 3.0 * np.sin(2 * math.pi * t / 48.0 + seed) + rng.normal(0.0, 0.3, n)
    if spike_at is not None:
        base[spike_at : spike_at + 3] += spike * 0.3 * 3.0
    return Series(stream, [1.7e9 + 60.0 * i for i in range(n)], [float(v) for v in base])


def reading_bytes(stream: str, ts: float, value: float) -> bytes:
    return json.dumps({"stream": stream, "ts": ts, "value": value}).encode()


def interleave(series: Sequence[Series]) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every reading, streams interleaved, each stream in order."""
    n = max(len(s.values) for s in series)
    for i in range(n):
        for s in series:
            if i < len(s.values):
                yield s.stream.encode(), reading_bytes(s.stream, s.ts[i], s.values[i])


async def produce(
    kafka: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]], rate: float = 0.0
) -> list[tuple[int, int]]:
    """Send messages (key, value), wait for every ack, return their (partition, offset);
    ``rate`` > 0 paces them (messages per second)."""
    await ensure_topics(kafka, {topic: PARTITIONS})
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=5)
    await producer.start()
    try:
        t0 = time.monotonic()
        futures = []
        for i, (key, value) in enumerate(messages):
            futures.append(await producer.send(topic, value, key=key))
            if rate and i % 200 == 0:
                ahead = i / rate - (time.monotonic() - t0)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        meta = await asyncio.gather(*futures)
        return [(m.partition, m.offset) for m in meta]
    finally:
        await producer.stop()


async def read_topic(kafka: str, topic: str, idle_s: float = 2.0) -> list[dict[str, object]]:
    """Every message of ``topic`` from the beginning (JSON values), until idle."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        out: list[dict[str, object]] = []
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_s * 1000), max_records=10_000)
            if not batch:
                return out
            for recs in batch.values():
                out.extend(json.loads(r.value) for r in recs)
    finally:
        await consumer.stop()


# --- state ---------------------------------------------------------------------------------


async def stored(
    redis_url: str, namespace: str, layout: StateLayout, streams: Sequence[str]
) -> dict[str, StreamRecord]:
    store = RedisCacheStore(redis_url, layout, namespace=namespace)
    try:
        return (await store.load(list(streams))).records
    finally:
        await store.close()


async def wait_steps(
    redis_url: str,
    namespace: str,
    layout: StateLayout,
    expected: Mapping[str, int],
    timeout_s: float,
    alive: Callable[[], None] = lambda: None,
) -> dict[str, StreamRecord]:
    """Poll Redis until every stream's stored step is its expected count (or time out)."""
    deadline = time.monotonic() + timeout_s
    records: dict[str, StreamRecord] = {}
    while time.monotonic() < deadline:
        alive()
        records = await stored(redis_url, namespace, layout, list(expected))
        if all(s in records and records[s].state.step == n for s, n in expected.items()):
            return records
        await asyncio.sleep(1.0)
    return records


def reference_states(
    series: Sequence[Series], ring_dtype: str = DEFAULT_RING_DTYPE
) -> dict[str, StreamState]:
    """Each stream's state after all its readings, stepped by the Detector directly (one
    uninterrupted pass, every stream in its own slot), its rings held as ``ring_dtype`` (the
    worker's default unless told)."""
    import torch

    from tcnad.detector.engine import Detector

    torch.set_num_threads(1)  # as the worker; several threads on 2 busy cores are 10x slower
    cap = max(1, len(series))
    det = Detector.from_checkpoint(None, device="cpu", capacity=cap, ring_dtype=ring_dtype)
    slots = np.arange(len(series), dtype=np.int64)
    det.put(slots, [det.new_state() for _ in series])
    n = max(len(s.values) for s in series)
    for i in range(n):
        idx = [k for k, s in enumerate(series) if i < len(s.values)]
        vals = np.array([[series[k].values[i]] for k in idx], dtype=np.float64)
        times = np.array([series[k].ts[i] for k in idx], dtype=np.float64)
        det.step(slots[idx], vals, times)  # the worker steps each reading with its ts
    return {s.stream: st for s, st in zip(series, det.get(slots), strict=True)}


@functools.cache
def shipped_stats() -> StatsLayout:
    """The stats layout of the shipped model's states (what the test workers store); built
    once, since every state check asks for it."""
    from tcnad.detector.engine import stats_layout
    from tcnad.detector.spec import TCNSpec

    return stats_layout(TCNSpec())


def where_fields(size: int) -> list[int]:
    """Indices, in a stats vector of the shipped layout, of the open alert's partition and
    offset: the Kafka position of the reading that opened it, which the worker knows and a
    reference pass (``reference_states``, which steps without positions) does not."""
    layout = shipped_stats()
    assert layout.size == size, f"stats of {size} floats, the shipped layout has {layout.size}"
    fields = (layout.field("opened", "partition"), layout.field("opened", "offset"))
    return [i for f in fields for i in range(f.start, f.stop)]


# How close a worker's state comes to a one-pass reference's (rtol, atol). Batch composition
# may change the summation order of a matrix product: float32's tolerance. With rings in
# half precision such a difference now and then rounds a ring value the other way, one unit
# in its last place (2**-10 of it in float16), and the forecasts after it move about as
# much: a few such units. A reading applied twice or lost shifts every ring by a row and
# changes the step and reading counts, which are compared exactly. float8 rings: one value
# rounded the other way is a unit in its last place, up to a quarter of it, and the ring
# keeps it until the row is overwritten; the stats move as little as float16's (a ring value
# moved by one float8 unit moved the stats of the shipped model by 5e-6 of themselves), so
# the rings have a tolerance of their own (RING_TOLERANCE).
TOLERANCE = {
    "float32": (1e-4, 1e-5),
    "float16": (4e-3, 1e-3),
    "bfloat16": (3e-2, 1e-2),
    "float8_e5m2": (4e-3, 1e-3),
}
RING_TOLERANCE = {**TOLERANCE, "float8_e5m2": (0.26, 2e-5)}


def assert_same_state(
    got: StreamState, want: StreamState, stream: str, ring_dtype: str = DEFAULT_RING_DTYPE
) -> None:
    """Step and reading counts equal exactly; rings and statistics equal to the tolerance
    of ``ring_dtype`` (``TOLERANCE``). The open alert's Kafka position, which ``want``
    cannot know, is only checked to be one (or unset)."""
    assert got.step == want.step, f"{stream}: step {got.step} != {want.step}"
    count = shipped_stats().field("normalisation", "count")
    assert got.stats[count].tolist() == want.stats[count].tolist(), f"{stream}: reading count"
    rtol, atol = TOLERANCE[ring_dtype]
    where = where_fields(got.stats.size)
    keep = np.setdiff1d(np.arange(got.stats.size), where)
    np.testing.assert_allclose(
        got.stats[keep], want.stats[keep], rtol=rtol, atol=atol, err_msg=stream
    )
    pos = got.stats[where]  # NaN until an alert opened; then its partition and offset
    whole = np.isfinite(pos).all() and (pos >= 0).all() and (pos == np.round(pos)).all()
    assert np.isnan(pos).all() or whole, f"{stream}: open alert's position {pos}"
    rtol, atol = RING_TOLERANCE[ring_dtype]
    for j, (a, b) in enumerate(zip(got.rings, want.rings, strict=True)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{stream} ring {j}")


def wait_health(proc: ManagedProcess, want: int, timeout_s: float) -> dict[str, object]:
    """Poll a worker's /health until it answers ``want``; returns the body."""
    deadline = time.monotonic() + timeout_s
    last: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        assert proc.running, proc.log_tail(60)
        if logged_metrics_url(proc) is not None:
            last = scrape(proc, "/health")
            if last[0] == want:
                return dict(json.loads(last[1]))
        time.sleep(0.5)
    raise AssertionError(f"/health never answered {want}; last {last}\n{proc.log_tail(60)}")


def logged_metrics_url(proc: ManagedProcess) -> str | None:
    """Base URL of a worker's /metrics and /health, from the line it logs at start (the last
    one: a restarted worker appends to its log); None until it is logged. The whole log is
    read, not its tail: while the broker is down, the worker's Kafka client logs a reconnect
    error every 100 ms, several KB a second, which push the start-up line out of any tail."""
    import re

    if proc.log_path is None or not proc.log_path.exists():
        return None
    found = re.findall(rb"metrics and health on http://[\d.]+:(\d+)", proc.log_path.read_bytes())
    return f"http://127.0.0.1:{int(found[-1])}" if found else None


def metrics_url(proc: ManagedProcess) -> str:
    """Base URL of a worker's /metrics and /health, from its start-up log line."""
    url = logged_metrics_url(proc)
    assert url, f"{proc.name} did not log its metrics port:\n{proc.log_tail(40)}"
    return url


def scrape(proc: ManagedProcess, path: str = "/metrics") -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(metrics_url(proc) + path, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str) -> float:
    """Sum of a metric's samples in Prometheus text format (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def assigned(proc: ManagedProcess) -> list[int]:
    """The partitions of the worker's latest assignment (from its log)."""
    import re

    found = re.findall(r"assigned partitions=\[([\d, ]*)\]", proc.log_tail(10_000))
    return [int(x) for x in found[-1].split(",") if x.strip()] if found else []
