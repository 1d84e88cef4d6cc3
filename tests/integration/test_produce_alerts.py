"""`tcnad produce` and `tcnad alerts` as users run them, against the real broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from tcnad.topology.kafka_io import BatchProducer, ensure_topic
from tcnad.topology.wire.decode import RawRecord, decode_batch
from tcnad.topology.wire.schemas import Alert, alert_id

CLI = (sys.executable, "-m", "tcnad.topology.cli")
ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def cli_process(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*CLI, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def read_all(
    bootstrap: str, topic: str, n: int, timeout_s: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Exactly the ``n`` records expected (from the beginning), failing on a timeout."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) if topic in await consumer.topics() else None
        assert parts, f"topic {topic} missing"
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < n:
            assert time.monotonic() < deadline, f"read {len(got)} of {n} records"
            batch = await consumer.getmany(timeout_ms=500)
            got += [r for rs in batch.values() for r in rs]
        extra = await consumer.getmany(timeout_ms=1500)  # nothing beyond what we expect
        got += [r for rs in extra.values() for r in rs]
        return got
    finally:
        await consumer.stop()


def check_keys_and_partitions(
    records: Sequence[ConsumerRecord[bytes, bytes]], n_parts: int
) -> None:
    """Key = stream; each stream on its murmur2 partition, timestamps increasing there."""
    partitioner = DefaultPartitioner()
    parts = list(range(n_parts))
    raws = [RawRecord(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in records]
    good, bad = decode_batch(raws, 1)
    assert not bad, bad[:3]
    last_ts: dict[str, float] = {}
    for d in sorted(good, key=lambda d: (d.record.partition, d.record.offset)):
        stream = d.reading.stream
        assert d.record.key == stream.encode()
        assert d.record.partition == partitioner(d.record.key, parts, parts)
        assert d.reading.ts > last_ts.get(stream, float("-inf"))
        last_ts[stream] = d.reading.ts


async def test_produce_fleet_round_trip(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.json"
    res = run_cli(
        "produce", "--bootstrap", kafka_bootstrap, "--topic", unique_name, "--partitions", "4",
        "--streams", "12", "--readings", "400", "--rate", "0", "--seed", "7",
        "--first-anomaly", "100", "--truth", str(truth), "--no-progress",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "4800 readings" in res.stderr
    records = await read_all(kafka_bootstrap, unique_name, 12 * 400)
    assert len(records) == 12 * 400
    assert len({r.partition for r in records}) > 1
    check_keys_and_partitions(records, 4)
    per_stream: dict[str, int] = defaultdict(int)
    for r in records:
        per_stream[r.key.decode()] += 1
    doc = json.loads(truth.read_text())
    assert sorted(per_stream) == sorted(s["stream"] for s in doc["streams"])
    assert set(per_stream.values()) == {400} and doc["steps"] == 400
    assert doc["anomalous"] and doc["clean"]
    assert all(a["start"] < 400 for s in doc["streams"] for a in s["anomalies"])


async def test_produce_paced_run_stops_at_duration_on_a_step_boundary(
    kafka_bootstrap: str, unique_name: str
) -> None:
    res = run_cli(
        "produce", "--bootstrap", kafka_bootstrap, "--topic", unique_name, "--partitions", "2",
        "--streams", "5", "--rate", "500", "--duration", "2", "--no-progress",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    sent = int(res.stderr.split("tcnad produce: ")[-1].split()[0])
    assert 0 < sent <= 500 * 2 + 5 * 10 and sent % 5 == 0  # pacing never runs ahead
    records = await read_all(kafka_bootstrap, unique_name, sent)
    assert len(records) == sent


async def test_produce_sigterm_flushes_and_writes_truth(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    truth = tmp_path / "t.json"
    args = ("produce", "--bootstrap", kafka_bootstrap, "--topic", unique_name, "--streams", "8",
            "--rate", "2000", "--first-anomaly", "50", "--truth", str(truth),
            "--no-progress")  # fmt: skip
    with cli_process(*args) as proc:
        deadline = time.monotonic() + 60
        while not await _topic_has_data(kafka_bootstrap, unique_name):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    doc = json.loads(truth.read_text())
    records = await read_all(kafka_bootstrap, unique_name, doc["steps"] * 8)
    assert len(records) == doc["steps"] * 8 > 0


async def _topic_has_data(bootstrap: str, topic: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return False
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:  # the topic is listed before its partitions' metadata: ask again later
            return False
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        return bool(await consumer.getmany(timeout_ms=500))
    finally:
        await consumer.stop()


async def test_produce_replays_csv(kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> None:
    (tmp_path / "boiler-a.csv").write_text("timestamp,value\n1,20.5\n3,21.0\n5,nan\n")
    (tmp_path / "boiler-b.csv").write_text("2,30\n4,31\n")
    files = [str(tmp_path / "boiler-a.csv"), str(tmp_path / "boiler-b.csv")]
    args = ("produce", "--bootstrap", kafka_bootstrap, "--topic", unique_name, "--rate", "0",
            "--csv", *files)  # fmt: skip
    res = run_cli(*args)
    assert res.returncode == 1 and "boiler-a.csv:4: value 'nan' in column 'value'" in res.stderr
    res = run_cli(*args, "--skip-bad-rows")
    assert res.returncode == 0, res.stderr
    assert "skipped 1 bad rows (boiler-a.csv: 1)" in res.stderr
    records = await read_all(kafka_bootstrap, unique_name, 4)
    assert sorted(json.loads(r.value)["ts"] for r in records) == [1.0, 2.0, 3.0, 4.0]
    check_keys_and_partitions(records, 8)


def _alerts(n: int, tag: str) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        stream = f"{tag}-{i % 3}"
        alert = Alert(
            id=alert_id(stream, 0, i), stream=stream, ts=1.7e9 + i, value=[9.0 + i],
            lower=[0.0], median=[1.0], upper=[2.0], severity=3.0 + i, tail_prob=1e-4,
            score=0.97, model_id="test", partition=0, offset=i,
        )  # fmt: skip
        out.append((stream.encode(), alert.to_bytes()))
    return out


async def _publish(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = BatchProducer(bootstrap, topic)
    await producer.start()
    try:
        await producer.send_many(messages)
        await producer.flush()
    finally:
        await producer.stop()


async def test_alerts_tail_from_beginning_json(kafka_bootstrap: str, unique_name: str) -> None:
    await ensure_topic(kafka_bootstrap, unique_name, 3)
    sent = _alerts(6, "old")
    await _publish(kafka_bootstrap, unique_name, [*sent[:3], (b"x", b"not an alert"), *sent[3:]])
    res = run_cli("alerts", "--bootstrap", kafka_bootstrap, "--topic", unique_name, "--json",
                  "--from-beginning", "--max", "6", "--timeout", "60")  # fmt: skip
    assert res.returncode == 0, res.stderr
    got = [Alert.model_validate_json(line) for line in res.stdout.splitlines()]
    assert sorted(a.id for a in got) == sorted(Alert.model_validate_json(v).id for _, v in sent)
    assert "not an alert" in res.stderr


async def test_alerts_tail_from_now_human_and_sigterm(
    kafka_bootstrap: str, unique_name: str
) -> None:
    await ensure_topic(kafka_bootstrap, unique_name, 3)
    await _publish(kafka_bootstrap, unique_name, _alerts(4, "before"))
    env_args = ("alerts", "--bootstrap", kafka_bootstrap, "--topic", unique_name)
    with cli_process(*env_args) as proc:
        assert proc.stderr is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), 60)
        assert "tailing" in line, line
        await _publish(kafka_bootstrap, unique_name, _alerts(5, "after"))
        await asyncio.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 5, out
    assert all(" after-" in x and "severity=" in x and "band=[0..2]" in x for x in lines)


def test_cli_errors_are_clear_not_tracebacks(tmp_path: Path) -> None:
    res = run_cli("produce", "--csv", str(tmp_path / "missing.csv"))
    assert res.returncode == 2 and "no such file" in res.stderr
    env = {**os.environ, "TCNAD_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    res = subprocess.run([*CLI, "alerts", "--timeout", "5"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
