"""Round trips through the real broker and the real Redis that the fixtures provide."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.integration.kafka_helpers import create_topics

PARTITIONS = 3


def _consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )


async def _produce(bootstrap: str, topic: str, keys: list[str], tag: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, key in enumerate(keys):
            await producer.send_and_wait(topic, f"{tag}-{i}".encode(), key=key.encode())
    finally:
        await producer.stop()


async def _consume(consumer: AIOKafkaConsumer, n: int, timeout_s: float = 30.0) -> list[str]:
    got: list[str] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(got) < n:
        assert asyncio.get_running_loop().time() < deadline, f"{len(got)} of {n} records"
        batch = await consumer.getmany(timeout_ms=500)
        got += [m.value.decode() for msgs in batch.values() for m in msgs]
    return got


async def test_kafka_produce_consume_commit(kafka_bootstrap: str, unique_name: str) -> None:
    topic, group = unique_name, f"{unique_name}-g"
    await create_topics(kafka_bootstrap, {topic: PARTITIONS})
    keys = [f"stream-{i}" for i in range(30)]
    await _produce(kafka_bootstrap, topic, keys, "first")

    consumer = _consumer(kafka_bootstrap, topic, group)
    await consumer.start()
    try:
        got = await _consume(consumer, len(keys))
        assert sorted(got) == sorted(f"first-{i}" for i in range(len(keys)))
        assert len(consumer.assignment()) == PARTITIONS
        await consumer.commit()
        committed = {tp.partition: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()
    assert sum(v or 0 for v in committed.values()) == len(keys)

    # A consumer of the same group starts from the committed offsets: only new records. It
    # takes the partitions by assignment, so it need not wait for the first member's session
    # to expire before a rebalance.
    await _produce(kafka_bootstrap, topic, keys[:5], "second")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        got = await _consume(consumer, 5)
        await asyncio.sleep(1.0)  # anything beyond the 5 new records would show up here
        late = await consumer.getmany(timeout_ms=500)
        got += [m.value.decode() for msgs in late.values() for m in msgs]
    finally:
        await consumer.stop()
    assert sorted(got) == sorted(f"second-{i}" for i in range(5))


async def test_kafka_key_routes_to_one_partition(kafka_bootstrap: str, unique_name: str) -> None:
    await create_topics(kafka_bootstrap, {unique_name: PARTITIONS})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        metas = [await producer.send_and_wait(unique_name, b"x", key=b"same") for _ in range(10)]
    finally:
        await producer.stop()
    assert len({m.partition for m in metas}) == 1
    assert [m.offset for m in metas] == list(range(metas[0].offset, metas[0].offset + 10))
    assert TopicPartition(unique_name, metas[0].partition) == metas[0].topic_partition


async def test_redis_round_trip(redis_url: str, unique_name: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    key = f"{unique_name}:{{s1}}:rings"
    fence = f"{unique_name}:{{s1}}:step"
    try:
        assert await client.ping()
        await client.set(key, b"\x00" * 16)
        await client.setrange(key, 4, b"\x01\x02\x03\x04")
        assert await client.get(key) == b"\x00" * 4 + b"\x01\x02\x03\x04" + b"\x00" * 8
        # Lua scripts (the state store's fenced saves rely on them).
        script = client.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end"
        )
        await client.set(fence, "3")
        assert await script(keys=[fence], args=["3", "4"]) == 1
        assert await script(keys=[fence], args=["3", "5"]) == 0
        assert await client.get(fence) == b"4"
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(f"{unique_name}:a", "1").set(f"{unique_name}:b", "2")
            pipe.mget(f"{unique_name}:a", f"{unique_name}:b")
            results = await pipe.execute()
        assert results[-1] == [b"1", b"2"]
    finally:
        await client.delete(key, fence, f"{unique_name}:a", f"{unique_name}:b")
        await client.aclose()
