"""Declaring the worker's topics with a plain Kafka admin client (idempotent)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from tcnad.detector.errors import DetectorError
from tcnad.topology.security import KafkaSecurity

logger = logging.getLogger(__name__)

_EXISTS = 36  # TOPIC_ALREADY_EXISTS: another worker declared it first


class TopicError(DetectorError):
    """The broker refused to create a topic (error codes in the message)."""


async def ensure_topics(
    bootstrap: str, partitions: Mapping[str, int], *, security: KafkaSecurity | None = None
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. ``security``:
    TLS and SASL of the admin client (None = PLAINTEXT)."""
    options = security.kafka_client_options() if security is not None else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        todo = [
            NewTopic(name, n, 1) for name, n in partitions.items() if name and name not in existing
        ]
        if not todo:
            return []
        try:
            response = await admin.create_topics(todo)
        except TopicAlreadyExistsError:
            logger.debug("topics created concurrently by someone else")
            return []
        failed = [(t[0], t[1]) for t in response.topic_errors if t[1] not in (0, _EXISTS)]
        if failed:
            raise TopicError(f"could not create topics {failed} at {bootstrap}")
        names = [t.name for t in todo]
        logger.info("created topics %s", names)
        return names
    finally:
        await admin.close()
