"""Bounded exponential backoff for state-store calls; past the bound the worker must stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from tcnad.detector.errors import DetectorError

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
