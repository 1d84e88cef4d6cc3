"""Readings of a stream that arrive from another source - another topic, a deleted and
recreated topic, another partition of the same topic - are applied when they are newer
than the stream's last reading, and records already applied from the same source are
still skipped as replays.

The embedded broker cannot add partitions to a topic, so the partition move is made the way
a repartitioned topic moves a key: the stream's later readings are produced to another
partition of its topic, once the worker has applied the earlier ones. (Readings produced to
the old partition before the move but read after newer ones from the new partition are not
after the stream's last reading: they go to the dead-letter topic as ``not_after_last``.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tcnad.detector.engine import Detector
from tcnad.topology.kafka_io import ensure_topics

from .worker_harness import (
    PARTITIONS,
    Series,
    Workers,
    assert_same_state,
    interleave,
    logged_metrics_url,
    make_series,
    metric,
    produce,
    read_topic,
    reference_states,
    scrape,
    topics_for,
    wait_steps,
    worker_env,
)

pytestmark = pytest.mark.timeout(300)

STREAMS = [f"s{k}" for k in range(4)]
CHUNK = 300


def chunk(series: list[Series], i: int) -> list[Series]:
    """Readings ``i * CHUNK .. (i + 1) * CHUNK`` of every stream."""
    sl = slice(i * CHUNK, (i + 1) * CHUNK)
    return [dataclasses.replace(s, ts=s.ts[sl], values=s.values[sl]) for s in series]


async def recreate(kafka: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        response = await admin.delete_topics([topic])
        assert all(code == 0 for _, code in response.topic_error_codes), response
    finally:
        await admin.close()
    await ensure_topics(kafka, {topic: PARTITIONS})


async def produce_to_partition(kafka: str, topic: str, series: list[Series], shift: int) -> None:
    """Stream k's readings go to partition ``k + shift`` of ``topic``."""
    await ensure_topics(kafka, {topic: PARTITIONS})
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=5)
    await producer.start()
    try:
        for k, s in enumerate(series):
            for ts, value in zip(s.ts, s.values, strict=True):
                body = f'{{"stream": "{s.stream}", "ts": {ts}, "value": {value}}}'.encode()
                part = (k + shift) % PARTITIONS
                await producer.send(topic, body, key=s.stream.encode(), partition=part)
        await producer.flush()
    finally:
        await producer.stop()


class Phase:
    """One worker run over one topic with its own consumer group, sharing the namespace."""

    def __init__(self, kafka: str, redis_url: str, name: str, tmp_path: Path) -> None:
        self.kafka, self.redis_url, self.base = kafka, redis_url, topics_for(name)
        self.tmp_path = tmp_path
        self.layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout

    async def run(
        self,
        topic: str,
        group: str,
        steps: int,
        send: Awaitable[object],
        until: Callable[[str], bool] = lambda text: True,
        then: Sequence[tuple[Awaitable[object], int]] = (),
    ) -> tuple[str, str]:
        """Start a worker on ``topic``, send, wait until every stream is at ``steps``; then
        for each ``(send, steps)`` of ``then`` the same; then wait until the worker's
        metrics satisfy ``until``. Returns its metrics text and its log."""
        t = dataclasses.replace(self.base, readings=topic, group=f"{self.base.group}-{group}")
        (self.tmp_path / group).mkdir()
        workers = Workers(worker_env(self.kafka, self.redis_url, t), self.tmp_path / group)
        try:
            proc = workers.start()

            def alive() -> None:
                assert proc.running, workers.logs(60)

            for stage, n in [(send, steps), *then]:
                await stage
                expected = dict.fromkeys(STREAMS, n)
                records = await wait_steps(
                    self.redis_url, t.namespace, self.layout, expected, 90, alive
                )
                got = {s: r.state.step for s, r in records.items()}
                assert got == expected, f"{topic}: {got}\n{workers.logs(60)}"
            deadline = time.monotonic() + 60
            while logged_metrics_url(proc) is None:
                assert time.monotonic() < deadline, workers.logs(60)
                await asyncio.sleep(0.2)
            code, text = scrape(proc)
            while not until(text) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                code, text = scrape(proc)
            assert code == 200, text
            return text, proc.log_tail(10_000)
        finally:
            workers.stop_all()


async def test_newer_readings_from_a_new_source_are_applied_and_replays_skipped(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> None:
    series = [make_series(s, 4 * CHUNK, seed=300 + k) for k, s in enumerate(STREAMS)]
    phase = Phase(kafka_bootstrap, redis_url, unique_name, tmp_path)
    t1, t2, t3 = (f"{phase.base.readings}-{i}" for i in (1, 2, 3))

    def send(topic: str, part: list[Series]) -> Awaitable[object]:
        return produce(kafka_bootstrap, topic, list(interleave(part)))

    # A stream's first readings on t1, then newer ones on t2: all of them are applied.
    await phase.run(t1, "a", CHUNK, send(t1, chunk(series, 0)))
    text, _ = await phase.run(t2, "b", 2 * CHUNK, send(t2, chunk(series, 1)))
    assert metric(text, "tcnad_readings_applied_total") == len(STREAMS) * CHUNK
    assert metric(text, "tcnad_readings_replayed_total") == 0

    # t1 deleted and created again: its offsets start over, below the stored ones.
    await recreate(kafka_bootstrap, t1)
    text, _ = await phase.run(t1, "c", 3 * CHUNK, send(t1, chunk(series, 2)))
    assert metric(text, "tcnad_readings_applied_total") == len(STREAMS) * CHUNK

    # The recreated t1 read again from its start: every record is a replay, none applied.
    replayed = len(STREAMS) * CHUNK

    def all_replayed(text: str) -> bool:
        return metric(text, "tcnad_readings_replayed_total") >= replayed

    text, log = await phase.run(t1, "d", 3 * CHUNK, asyncio.sleep(0), until=all_replayed)
    assert metric(text, "tcnad_readings_replayed_total") == replayed, log[-3000:]
    assert metric(text, "tcnad_readings_applied_total") == 0
    assert "replayed" in log  # skips are logged, not silent

    # Each stream's readings move to another partition of t3 half-way through the chunk.
    first, second = (
        [dataclasses.replace(s, ts=s.ts[sl], values=s.values[sl]) for s in chunk(series, 3)]
        for sl in (slice(0, CHUNK // 2), slice(CHUNK // 2, CHUNK))
    )
    moved = produce_to_partition(kafka_bootstrap, t3, second, shift=1)
    text, _ = await phase.run(
        t3,
        "e",
        3 * CHUNK + CHUNK // 2,
        produce_to_partition(kafka_bootstrap, t3, first, shift=0),
        then=[(moved, 4 * CHUNK)],
    )
    assert metric(text, "tcnad_readings_applied_total") == len(STREAMS) * CHUNK

    dead = await read_topic(kafka_bootstrap, phase.base.dlq, idle_s=1.0)
    assert dead == []
    want = reference_states(series)
    records = await wait_steps(
        redis_url, phase.base.namespace, phase.layout, dict.fromkeys(STREAMS, 4 * CHUNK), 5
    )
    for s in STREAMS:
        assert_same_state(records[s].state, want[s], s)
