"""The dashboard's consumers: every partition of the scores topic and of the alerts topic,
without a consumer group (``kafka_io.tail``), into a ``Board``.

A consumer waits for its topic to exist, and after a broker error says so on the board and
starts again from the end (what was published meanwhile is not shown). A record that is not
a valid score record or alert is counted as skipped and logged once per kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from tcnad.topology.kafka_io import KafkaIOError, tail, topic_partitions
from tcnad.topology.security import KafkaSecurity
from tcnad.topology.ui.board import Board
from tcnad.topology.wire.schemas import Resolved, ScoreRecord, parse_alert_record

__all__ = ["Feed", "apply_alert", "apply_score", "follow"]

logger = logging.getLogger(__name__)

RETRY_S = 2.0


@dataclass(frozen=True)
class Feed:
    """One topic to follow: ``kind`` is ``scores`` or ``alerts``."""

    kind: str
    bootstrap: str
    topic: str
    from_beginning: bool = False
    security: KafkaSecurity | None = None


def apply_score(board: Board, value: bytes | None) -> bool:
    """Add one score record's bytes to ``board``; False if it is not a valid one."""
    try:
        rec = ScoreRecord.model_validate_json(value or b"")
    except ValidationError:
        return False
    board.add_score(rec)
    return True


def apply_alert(board: Board, value: bytes | None) -> bool:
    """Add one alert's bytes to ``board``; False if it is not a valid one. A resolved record
    (the end of an alert's incident) is valid and left out: the board shows alerts."""
    try:
        alert = parse_alert_record(value or b"")
        raw = json.loads(value or b"")
    except (ValidationError, ValueError):
        return False
    if isinstance(alert, Resolved):
        return True
    board.add_alert(alert, raw if isinstance(raw, dict) else None)
    return True


_APPLY: dict[str, Callable[[Board, bytes | None], bool]] = {
    "scores": apply_score,
    "alerts": apply_alert,
}


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def follow(board: Board, feed: Feed, stop: asyncio.Event) -> None:
    """Follow ``feed`` into ``board`` until ``stop`` is set."""
    apply = _APPLY[feed.kind]
    from_beginning = feed.from_beginning
    warned = False
    while not stop.is_set():
        try:
            if not await topic_partitions(feed.bootstrap, feed.topic, security=feed.security):
                board.set_feed(feed.kind, f"waiting for topic {feed.topic!r}")
                await _wait(stop, RETRY_S)
                continue
            records = tail(
                feed.bootstrap,
                feed.topic,
                from_beginning=from_beginning,
                poll_ms=200,
                security=feed.security,
            )
            try:
                async for batch in records:
                    board.set_feed(feed.kind, f"live on {feed.topic!r}")
                    for record in batch:
                        if not apply(board, record.value):
                            board.skipped += 1
                            if not warned:
                                logger.warning(
                                    "skipping records on %r that are not %s (first at "
                                    "partition %d offset %d)",
                                    feed.topic,
                                    "score records" if feed.kind == "scores" else "alerts",
                                    record.partition,
                                    record.offset,
                                )
                                warned = True
                    if stop.is_set():
                        break
            finally:
                await records.aclose()
        except KafkaIOError as exc:
            board.set_feed(feed.kind, f"error on {feed.topic!r}: {exc}")
            logger.warning("%s: %s; retrying in %.0f s", feed.kind, exc, RETRY_S)
            from_beginning = False
            await _wait(stop, RETRY_S)
