"""The Python client against a real broker: readings keyed and partitioned as the Kafka
clients partition them, alerts read back, and the README's snippet run as written."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path

from aiokafka import AIOKafkaProducer

from tcnad.topology.client import Publisher, SyncPublisher, alerts, iter_alerts
from tcnad.topology.kafka_io import ensure_topics, tail
from tcnad.topology.wire.schemas import Alert, Reading, Resolved
from tests.integration.kafka_helpers import create_topics

ROOT = Path(__file__).resolve().parents[2]
STREAMS = [f"sensor-{i:03d}" for i in range(12)]


async def _read_all(bootstrap: str, topic: str, n: int) -> list[tuple[int, bytes, bytes]]:
    """(partition, key, value) of the first ``n`` records of ``topic``."""
    got: list[tuple[int, bytes, bytes]] = []
    records = tail(bootstrap, topic, from_beginning=True, poll_ms=200)
    try:
        async with asyncio.timeout(30):
            async for batch in records:
                got += [(r.partition, r.key, r.value) for r in batch]
                if len(got) >= n:
                    return got
    finally:
        await records.aclose()
    return got


async def _java_partitions(bootstrap: str, topic: str) -> dict[str, int]:
    """The partition aiokafka's default (murmur2) partitioner picks for each stream key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return {
            s: (await producer.send_and_wait(topic, b"{}", key=s.encode())).partition
            for s in STREAMS
        }
    finally:
        await producer.stop()


def test_readings_are_keyed_by_stream_and_land_where_kafka_clients_put_them(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic, probe = f"readings-{unique_name}", f"probe-{unique_name}"
    asyncio.run(create_topics(kafka_bootstrap, {topic: 4, probe: 4}))
    with SyncPublisher(kafka_bootstrap, topic) as pub:
        pub.send_many((s, 1_700_000_000.0, float(i)) for i, s in enumerate(STREAMS))

    async def publish_async() -> None:
        async with Publisher(kafka_bootstrap, topic) as pub:
            for i, s in enumerate(STREAMS):
                await pub.send(s, "2023-11-14T22:13:21Z", [float(i)])

    asyncio.run(publish_async())
    records = asyncio.run(_read_all(kafka_bootstrap, topic, 2 * len(STREAMS)))
    expected = asyncio.run(_java_partitions(kafka_bootstrap, probe))
    assert len(records) == 2 * len(STREAMS)
    assert len(set(expected.values())) > 1  # the streams spread over partitions
    for partition, key, value in records:
        reading = Reading.model_validate_json(value)
        assert key == reading.stream.encode()
        assert partition == expected[reading.stream]
    assert sorted(Reading.model_validate_json(v).ts for _, _, v in records)[-1] == 1_700_000_001.0


def _alert(i: int) -> Alert:
    return Alert(
        id=f"pump-{i}:0:{i}",
        stream=f"pump-{i}",
        ts=1_700_000_000.0 + i,
        value=[9.0],
        lower=[1.0],
        median=[2.0],
        upper=[3.0],
        severity=2.0,
        tail_prob=1e-4,
        score=0.9,
        model_id="m",
        partition=0,
        offset=i,
    )


async def _publish_alerts(bootstrap: str, topic: str, items: list[Alert]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for a in items:
            await producer.send_and_wait(topic, a.to_bytes(), key=a.stream.encode())
            end = Resolved(
                id=a.id,
                stream=a.stream,
                ts=a.ts + 30,
                readings=31,
                severity=a.severity,
                model_id=a.model_id,
                partition=a.partition,
                offset=a.offset + 30,
            )  # an incident's end: on the same topic, not an alert
            await producer.send_and_wait(topic, end.to_bytes(), key=a.stream.encode())
        await producer.send_and_wait(topic, b"not an alert")
    finally:
        await producer.stop()


def test_alerts_are_read_async_and_sync(kafka_bootstrap: str, unique_name: str) -> None:
    topic = f"alerts-{unique_name}"
    asyncio.run(create_topics(kafka_bootstrap, {topic: 1}))
    sent = [_alert(i) for i in range(3)]
    asyncio.run(_publish_alerts(kafka_bootstrap, topic, sent))

    async def read() -> list[Alert]:
        got = []
        async for a in alerts(kafka_bootstrap, topic, from_beginning=True, timeout_s=10):
            got.append(a)
            if len(got) == len(sent):
                break
        return got

    assert asyncio.run(read()) == sent
    got = []
    for a in iter_alerts(kafka_bootstrap, topic, from_beginning=True, timeout_s=10):
        got.append(a)
        if len(got) == len(sent):
            break
    assert got == sent
    assert list(iter_alerts(kafka_bootstrap, topic, from_beginning=True, timeout_s=1)) == sent


def test_the_readme_snippet_runs(kafka_bootstrap: str) -> None:
    """The README's Python client block, with its broker address set to the test broker;
    its readings and alerts topics have their default names."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python client", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert code is not None
    source = code.group(1)
    assert 'BOOTSTRAP = "127.0.0.1:9092"' in source
    source = source.replace('"127.0.0.1:9092"', repr(kafka_bootstrap))
    asyncio.run(ensure_topics(kafka_bootstrap, {"readings": 1, "alerts": 1}))
    marker = _alert(99)
    asyncio.run(_publish_alerts(kafka_bootstrap, "alerts", [marker]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert f"{marker.id} {marker.stream} {marker.severity}" in lines
    assert lines[-1].startswith("True ")  # the offline detector alerts on the jump to 95
    sent = asyncio.run(_read_all(kafka_bootstrap, "readings", 1))
    assert any(key == b"sensor-1" for _, key, _ in sent)
