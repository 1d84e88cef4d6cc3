"""Small Kafka helpers shared by integration tests."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

__all__ = ["create_topics"]


async def create_topics(bootstrap: str, partitions: dict[str, int]) -> None:
    """Create each topic with its partition count (replication factor 1); raise on failure."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [NewTopic(name, n, replication_factor=1) for name, n in partitions.items()]
        response = await admin.create_topics(topics)
        errors = [(t[0], t[1], t[2]) for t in response.topic_errors if t[1] != 0]
        if errors:
            raise RuntimeError(f"create_topics failed: {errors}")
    finally:
        await admin.close()
