"""A batch as the pipeline sees it: decoded, what applying or saving it did, its settings,
and what it hands to Kafka: ``OutMessage`` s through a ``Publisher``, which returns what
completes once the broker acknowledged every one (a fake in unit tests). And the bounded
exponential backoff of its state-store calls (``retry_store``); past the bound the worker
must stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from tcnad.detector.errors import DetectorError
from tcnad.topology.wire.decode import Decoded
from tcnad.topology.wire.schemas import DeadLetter

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One message to produce: topic, key bytes (None: any partition), value bytes."""

    topic: str
    key: bytes | None
    value: bytes


class Publisher(Protocol):
    async def send(self, messages: Sequence[OutMessage]) -> Awaitable[object]:
        """Hand every message to the producer, in order (raise if one cannot be sent).
        Returns an awaitable that completes once the broker acknowledged every one, and
        raises otherwise."""
        ...


@dataclass(frozen=True)
class PreparedBatch:
    """A decoded batch: readings grouped by stream (arrival order) and dead letters."""

    records: int
    groups: dict[str, list[Decoded]]
    dead: list[DeadLetter]
    decode_s: float
    oldest_ms: int | None = None  # the earliest Kafka record timestamp of the batch
    received: float = 0.0  # when the batch was handed over for decoding (Unix time)


@dataclass
class BatchOutcome:
    """What one ``apply``, ``flush`` or ``process`` call did (counters for metrics and
    tests)."""

    records: int = 0
    applied: int = 0
    saved: int = 0
    regressions: int = 0
    replays: int = 0
    alerts: int = 0
    dead: dict[str, int] = field(default_factory=dict)
    fenced: int = 0
    loaded: int = 0
    decode_s: float = 0.0
    load_s: float = 0.0
    step_s: float = 0.0
    publish_s: float = 0.0
    save_s: float = 0.0
    dead_seen: set[tuple[int, int]] = field(default_factory=set, repr=False)

    def new_dead(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Count and return the letters not yet sent in this batch (a re-application
        after a fenced save decides the same readings again)."""
        fresh = []
        for d in letters:
            key = (d.partition, d.offset)
            if key not in self.dead_seen:
                self.dead_seen.add(key)
                self.dead[d.reason] = self.dead.get(d.reason, 0) + 1
                fresh.append(d)
        return fresh


@dataclass(frozen=True)
class PipelineConfig:
    alerts_topic: str = "alerts"
    dlq_topic: str = "readings-dlq"
    scores_topic: str = ""
    store_retries: int = 6
    store_backoff_s: float = 0.2
    store_backoff_max_s: float = 5.0
    fenced_retries: int = 3


class RetryConfig(Protocol):
    @property
    def store_retries(self) -> int: ...

    @property
    def store_backoff_s(self) -> float: ...

    @property
    def store_backoff_max_s(self) -> float: ...


class StoreGaveUp(DetectorError):
    """The state store failed on every retry; the batch was not acked.

    The worker exits non-zero so a supervisor restarts it; the readings are replayed from
    the last committed offsets and nothing is lost or applied twice.
    """


async def retry_store(call: Callable[[], Awaitable[T]], what: str, cfg: RetryConfig) -> T:
    """Run ``call``; retry retriable ``DetectorError`` s with doubling delays."""
    delay = cfg.store_backoff_s
    for attempt in range(cfg.store_retries + 1):
        try:
            return await call()
        except DetectorError as exc:
            if not exc.retriable:
                raise
            if attempt == cfg.store_retries:
                raise StoreGaveUp(
                    f"state {what} failed {attempt + 1} times, last: {exc}. Check that Redis "
                    "answers (TCNAD_REDIS_URL); the worker stops and resumes from the last "
                    "committed offsets once restarted."
                ) from exc
            logger.warning(
                "state %s failed attempt=%d retry_in=%.2fs: %s", what, attempt + 1, delay, exc
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, cfg.store_backoff_max_s)
    raise AssertionError("unreachable")
