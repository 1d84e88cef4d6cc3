"""Small aiokafka helpers for the command line tools: topics, a batching producer, a tail.

The producer partitions keys exactly as the Java client does (murmur2 of the key bytes), so
a stream lands on the same partition whichever producer publishes it. Each helper takes
``security`` (TLS and SASL, ``KafkaSecurity``; None = PLAINTEXT) and passes its
``kafka_client_options()`` to its client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner

from tcnad.detector.errors import DetectorError
from tcnad.topology.security import KafkaSecurity

__all__ = [
    "BatchProducer",
    "KafkaIOError",
    "client_options",
    "ensure_topic",
    "ensure_topics",
    "tail",
    "topic_partitions",
]

logger = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


class KafkaIOError(DetectorError):
    """The broker refused or did not answer; check the bootstrap address and the topic."""

    retriable = True


def client_options(security: KafkaSecurity | None) -> dict[str, Any]:
    """aiokafka keyword arguments for TLS and SASL (none for PLAINTEXT)."""
    return security.kafka_client_options() if security is not None else {}


async def topic_partitions(
    bootstrap: str,
    topic: str,
    timeout_s: float = 10.0,
    *,
    security: KafkaSecurity | None = None,
) -> int:
    """Number of partitions of ``topic`` (0 when it does not exist)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **client_options(security)
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
        if topic not in await asyncio.wait_for(consumer.topics(), timeout_s):
            return 0
        parts = consumer.partitions_for_topic(topic)
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        raise KafkaIOError(f"cannot read metadata from {bootstrap}: {exc!r}") from exc
    finally:
        await consumer.stop()
    return len(parts or ())


async def ensure_topics(
    bootstrap: str, partitions: Mapping[str, int], *, security: KafkaSecurity | None = None
) -> list[str]:
    """Create the topics that do not exist yet, each with its partition count (replication
    factor 1); returns the names created. Idempotent: another client creating one first is
    no error."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options(security))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        todo = [NewTopic(t, n, 1) for t, n in partitions.items() if t and t not in existing]
        if not todo:
            return []
        try:
            response = await admin.create_topics(todo)
        except TopicAlreadyExistsError:
            logger.debug("topics created concurrently by someone else")
            return []
    except (KafkaError, OSError) as exc:
        where = f"{sorted(partitions)} on {bootstrap}"
        raise KafkaIOError(f"cannot create topics {where}: {exc!r}") from exc
    finally:
        await admin.close()
    failed = [(t[0], t[1]) for t in response.topic_errors if t[1] not in (0, _TOPIC_ALREADY_EXISTS)]
    if failed:
        raise KafkaIOError(f"cannot create topics on {bootstrap}: {failed}")
    names = [t.name for t in todo]
    logger.info("created topics %s", names)
    return names


async def ensure_topic(
    bootstrap: str, topic: str, partitions: int, *, security: KafkaSecurity | None = None
) -> int:
    """Create ``topic`` with ``partitions`` partitions unless it exists; return its count
    once the broker's metadata shows it."""
    existing = await topic_partitions(bootstrap, topic, security=security)
    if existing:
        if existing != partitions:
            logger.info(
                "topic=%s exists with %d partitions (asked %d)", topic, existing, partitions
            )
        return existing
    await ensure_topics(bootstrap, {topic: partitions}, security=security)
    for _ in range(50):  # metadata may lag the creation briefly
        n = await topic_partitions(bootstrap, topic, security=security)
        if n:
            return n
        await asyncio.sleep(0.1)
    raise KafkaIOError(f"topic {topic!r} was created but has no partitions in metadata")


class BatchProducer:
    """Publishes ``(key, value)`` messages in per-partition batches (``send_batch``), which
    costs far less per message than one ``send`` each. ``flush`` awaits every ack."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        batch_bytes: int = 512 * 1024,
        linger_ms: int = 10,
        acks: int | str = 1,
        max_in_flight: int = 64,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks=acks,
            linger_ms=linger_ms,
            max_batch_size=batch_bytes,
            max_request_size=max(1_048_576, batch_bytes * 2),
            enable_idempotence=False,
            **client_options(security),
        )
        self._partitioner = DefaultPartitioner()
        self._partition_of: dict[bytes, int] = {}
        self._partitions: list[int] = []
        self._batches: dict[int, Any] = {}
        self._pending: set[asyncio.Future[Any]] = set()
        self._max_in_flight = max_in_flight
        self.sent = 0

    async def start(self) -> None:
        try:
            await self._producer.start()
            parts = await self._producer.partitions_for(self.topic)
        except (KafkaError, OSError) as exc:
            await self._producer.stop()
            raise KafkaIOError(f"cannot produce to {self.topic!r}: {exc!r}") from exc
        self._partitions = sorted(parts)

    def partition(self, key: bytes) -> int:
        """The partition of ``key`` (murmur2, as the Java client)."""
        p = self._partition_of.get(key)
        if p is None:
            p = self._partitioner(key, self._partitions, self._partitions)
            self._partition_of[key] = p
        return p

    async def send_many(self, messages: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """Append messages to per-partition batches, sending each batch when full."""
        for key, value in messages:
            if key is not None:
                p = self.partition(key)
            else:
                p = self._partitions[self.sent % len(self._partitions)]
            batch = self._batches.get(p)
            if batch is None:
                batch = self._batches[p] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                await self._ship(p)
                batch = self._batches[p] = self._producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    size = len(value or b"")
                    raise KafkaIOError(f"message of {size} bytes exceeds the batch size")
            self.sent += 1

    async def _ship(self, partition: int) -> None:
        batch = self._batches.pop(partition, None)
        if batch is None or batch.record_count() == 0:
            return
        batch.close()
        fut = await self._producer.send_batch(batch, self.topic, partition=partition)
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)
        if len(self._pending) >= self._max_in_flight:
            await asyncio.wait(set(self._pending), return_when=asyncio.FIRST_COMPLETED)

    async def push(self) -> None:
        """Send partial batches now, without waiting for their acks."""
        for p in list(self._batches):
            await self._ship(p)

    async def flush(self) -> None:
        """Send partial batches and await the acks of everything sent so far."""
        for p in list(self._batches):
            await self._ship(p)
        if self._pending:
            done = await asyncio.gather(*self._pending, return_exceptions=True)
            errors = [d for d in done if isinstance(d, BaseException)]
            if errors:
                raise KafkaIOError(f"{len(errors)} batches failed: {errors[0]!r}")

    async def stop(self) -> None:
        await self._producer.stop()


async def tail(
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool = False,
    poll_ms: int = 500,
    security: KafkaSecurity | None = None,
) -> AsyncGenerator[list[ConsumerRecord[bytes, bytes]], None]:
    """The records of every partition of ``topic`` as they arrive, from the start or from
    now, one list per poll (empty when nothing came within ``poll_ms``, so callers can
    check deadlines). No consumer group, no commits: a tail never disturbs the workers.

    "From now" seeks to the end and also drops records stamped before the start: some
    Kafka-protocol brokers (tansu) answer the end offset with the last batch's base offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        **client_options(security),
    )
    try:
        await consumer.start()
        parts = consumer.partitions_for_topic(topic) if topic in await consumer.topics() else None
        if not parts:
            raise KafkaIOError(f"topic {topic!r} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        since_ms = 0 if from_beginning else int(time.time() * 1000)
        while True:
            batches = await consumer.getmany(timeout_ms=poll_ms)
            yield [
                r
                for tp in sorted(batches, key=lambda t: t.partition)
                for r in batches[tp]
                if r.timestamp >= since_ms
            ]
    except (KafkaError, OSError) as exc:
        raise KafkaIOError(f"cannot read {topic!r} from {bootstrap}: {exc!r}") from exc
    finally:
        await consumer.stop()
