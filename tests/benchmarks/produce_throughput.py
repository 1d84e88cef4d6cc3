"""Producer throughput (messages/s), printed, not asserted.

Compares in one run, on one broker: synthetic fleet generation alone, ``BatchProducer``
(per-partition batches, what ``tcnad produce`` uses) with generation included, and plain
``AIOKafkaProducer.send`` per message. Starts an embedded tansu broker unless --bootstrap.

Run from the repository root:
    PYTHONPATH=. python tests/benchmarks/produce_throughput.py [--streams 1000 --steps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator

from aiokafka import AIOKafkaProducer

from tcnad.topology.devstack.fleet import SyntheticFleet
from tcnad.topology.devstack.stack import KafkaBroker
from tcnad.topology.kafka_io import BatchProducer, ensure_topic


async def _batch_producer(bootstrap: str, topic: str, streams: int, steps: int) -> float:
    producer = BatchProducer(bootstrap, topic)
    await producer.start()
    try:
        t0 = time.perf_counter()
        for chunk in _chunks(SyntheticFleet(streams, seed=1).messages(steps), 10_000):
            await producer.send_many(chunk)
        await producer.flush()
        return producer.sent / (time.perf_counter() - t0)
    finally:
        await producer.stop()


async def _plain_send(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        t0 = time.perf_counter()
        futures = [await producer.send(topic, v, key=k) for k, v in messages]
        await asyncio.gather(*futures)
        return len(messages) / (time.perf_counter() - t0)
    finally:
        await producer.stop()


def _chunks(it: Iterator[tuple[bytes, bytes]], n: int) -> Iterator[list[tuple[bytes, bytes]]]:
    chunk: list[tuple[bytes, bytes]] = []
    for m in it:
        chunk.append(m)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _main(bootstrap: str, streams: int, steps: int, partitions: int) -> None:
    t0 = time.perf_counter()
    n = sum(1 for _ in SyntheticFleet(streams, seed=1).messages(steps))
    gen = n / (time.perf_counter() - t0)
    await ensure_topic(bootstrap, "bench-batch", partitions)
    await ensure_topic(bootstrap, "bench-plain", partitions)
    batch = await _batch_producer(bootstrap, "bench-batch", streams, steps)
    sample = list(SyntheticFleet(streams, seed=2).messages(max(1, steps // 4)))
    plain = await _plain_send(bootstrap, "bench-plain", sample)
    print(f"messages={n} streams={streams} partitions={partitions}")
    print(f"{'fleet generation only':38s} {gen:12,.0f} msg/s")
    print(f"{'BatchProducer (incl. generation)':38s} {batch:12,.0f} msg/s")
    print(f"{'AIOKafkaProducer.send per message':38s} {plain:12,.0f} msg/s  ({len(sample)} msgs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", default=None)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--partitions", type=int, default=8)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap
        if bootstrap is None:
            bootstrap = stack.enter_context(KafkaBroker()).bootstrap
        asyncio.run(_main(bootstrap, args.streams, args.steps, args.partitions))


if __name__ == "__main__":
    main()
