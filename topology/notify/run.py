"""The notify loop: consume the alerts topic in a consumer group of its own and deliver
each alert, committing a record's offset only once it is delivered.

Records are handled one at a time, in each partition's order, and a poll's offsets are
committed when all its alerts are delivered (or refused for good, or routed nowhere). A
record that is not an alert is logged and passed over. When a webhook fails every try,
the offsets delivered so far are committed and ``DeliveryError`` ends the loop: after a
restart the group resumes at the first undelivered alert, so nothing is lost and nothing
committed is sent again. Several notifiers in one group share the partitions.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError

from tcnad.topology.kafka_io import KafkaIOError, client_options
from tcnad.topology.notify.config import NotifyConfig
from tcnad.topology.notify.deliver import Post, Sender, Stats, http_post
from tcnad.topology.security import KafkaSecurity
from tcnad.topology.wire.schemas import Alert, Resolved, parse_alert_record

__all__ = ["DEFAULT_GROUP", "run_notify"]

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "tcnad-notify"
_POLL_MS = 200


def _alert(record: ConsumerRecord[bytes, bytes]) -> Alert | Resolved | None:
    try:
        return parse_alert_record(record.value or b"")
    except ValidationError as exc:
        first = exc.errors()[0]
        logger.warning(
            "skipping record at partition %d offset %d: not an alert (%s: %s)",
            record.partition,
            record.offset,
            first["loc"],
            first["msg"],
        )
        return None


async def _commit(consumer: AIOKafkaConsumer, done: dict[TopicPartition, int]) -> None:
    """Commit ``done`` (partition -> next offset); a commit lost to a rebalance is logged:
    the partition's new owner delivers those alerts again (at least once)."""
    if not done:
        return
    try:
        await consumer.commit(dict(done))
    except (CommitFailedError, IllegalStateError) as exc:
        logger.warning("offsets not committed (the group rebalanced): %s", exc)
    except KafkaError as exc:
        logger.error("offsets not committed: %r", exc)
    done.clear()


async def run_notify(
    bootstrap: str,
    topic: str,
    config: NotifyConfig,
    *,
    group: str = DEFAULT_GROUP,
    from_beginning: bool = False,
    security: KafkaSecurity | None = None,
    max_records: int | None = None,
    timeout_s: float | None = None,
    stop: asyncio.Event | None = None,
    post: Post = http_post,
) -> Stats:
    """Deliver the alerts of ``topic`` until ``stop`` is set, ``max_records`` records are
    handled or ``timeout_s`` has passed; return what was done.

    from_beginning: where a group without committed offsets starts (the oldest alert, or
    the next one published); a group with committed offsets always resumes from them.
    Raises ``DeliveryError`` (a webhook failed every try) or ``KafkaIOError``."""
    stop = stop or asyncio.Event()
    sender = Sender(config, post=post, stop=stop)
    stats = sender.stats
    deadline = math.inf if timeout_s is None else time.monotonic() + timeout_s
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        # A notifier that dies hands its partitions on within 6 s (Kafka's lowest default
        # group.min.session.timeout.ms), not the client's default of 10 s.
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        **client_options(security),
    )
    done: dict[TopicPartition, int] = {}
    handled = 0
    try:
        await consumer.start()
        logger.info("delivering alerts of %r as group %r", topic, group)
        while not stop.is_set() and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=_POLL_MS)
            try:
                for tp in sorted(batches, key=lambda t: t.partition):
                    for record in batches[tp]:
                        alert = _alert(record)
                        if alert is None:
                            stats.invalid += 1
                        else:
                            await sender.deliver(alert)
                        done[tp] = record.offset + 1
                        handled += 1
                        if max_records is not None and handled >= max_records:
                            return stats
            finally:
                await _commit(consumer, done)
    except (KafkaError, OSError) as exc:
        raise KafkaIOError(f"cannot consume {topic!r} from {bootstrap}: {exc!r}") from exc
    finally:
        await consumer.stop()
    return stats
