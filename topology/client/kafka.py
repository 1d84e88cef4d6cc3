"""Publish readings and read alerts from Python, async or not.

Readings are checked with the wire rules the worker applies (``encode_reading``: stream
id, timestamp, values) before anything is sent, so a bad one raises ``WireError`` here
instead of becoming a dead letter; they are keyed by their stream id and partitioned by
murmur2 of the key, as the Java client and the worker's producers do, so every reading of
a stream lands on one partition whoever publishes it. The number of values is checked by
the worker against its model (``wrong_width``).

The synchronous forms run their own event loop in a background thread, so they also work
where a loop is already running (a Jupyter notebook).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from pydantic import ValidationError

from tcnad.topology.kafka_io import BatchProducer, tail
from tcnad.topology.security import KafkaSecurity
from tcnad.topology.wire.schemas import Alert, encode_reading, parse_alert_record

__all__ = ["Publisher", "SyncPublisher", "alerts", "iter_alerts"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Value = float | tuple[float, ...] | list[float]
ReadingTuple = tuple[str, Any, Value]


def _encoded(readings: Iterable[ReadingTuple]) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` wire messages; raises ``WireError`` at the first bad reading, before
    any of them is sent."""
    return [(stream.encode(), encode_reading(stream, ts, value)) for stream, ts, value in readings]


class Publisher:
    """Publishes readings to the readings topic (async). ``send`` batches; ``flush`` waits
    for the broker's acks. Use as ``async with Publisher(bootstrap) as p: ...``."""

    def __init__(
        self,
        bootstrap: str,
        topic: str = "readings",
        *,
        security: KafkaSecurity | None = None,
        linger_ms: int = 10,
    ) -> None:
        self.topic = topic
        self._producer = BatchProducer(bootstrap, topic, linger_ms=linger_ms, security=security)

    async def start(self) -> None:
        await self._producer.start()

    async def send(self, stream: str, ts: Any, value: Value) -> None:
        """Queue one reading (``ts``: epoch seconds or ISO 8601; ``value``: a number or a
        sequence of numbers). Raises ``WireError`` if the worker would refuse it."""
        await self._producer.send_many(_encoded([(stream, ts, value)]))

    async def send_many(self, readings: Iterable[ReadingTuple]) -> None:
        """Queue ``(stream, ts, value)`` readings, in order; all are checked first."""
        await self._producer.send_many(_encoded(readings))

    def partition(self, stream: str) -> int:
        """The partition ``stream``'s readings go to."""
        return self._producer.partition(stream.encode())

    async def flush(self) -> None:
        """Send what is queued and wait until the broker has it."""
        await self._producer.flush()

    async def close(self) -> None:
        try:
            await self._producer.flush()
        finally:
            await self._producer.stop()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def alerts(
    bootstrap: str,
    topic: str = "alerts",
    *,
    from_beginning: bool = False,
    timeout_s: float | None = None,
    security: KafkaSecurity | None = None,
) -> AsyncIterator[Alert]:
    """The alerts on ``topic`` as they arrive (from now, or from the oldest), until
    ``timeout_s`` has passed (None: forever). Reads every partition without joining a
    consumer group. ``resolved`` records (an incident's end, docs/wire.md) are passed over;
    a record that is neither is logged and passed over."""
    deadline = math.inf if timeout_s is None else time.monotonic() + timeout_s
    records = tail(bootstrap, topic, from_beginning=from_beginning, poll_ms=200, security=security)
    try:
        async for batch in records:
            for record in batch:
                try:
                    got = parse_alert_record(record.value or b"")
                except ValidationError as exc:
                    logger.warning(
                        "partition %d offset %d is not an alert: %s",
                        record.partition,
                        record.offset,
                        exc.errors()[0]["msg"],
                    )
                    continue
                if isinstance(got, Alert):
                    yield got
            if time.monotonic() >= deadline:
                return
    finally:
        await records.aclose()


class _LoopThread:
    """An event loop in a daemon thread, running coroutines for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class SyncPublisher:
    """``Publisher`` for synchronous code: the same methods, without ``await``. Use as
    ``with SyncPublisher(bootstrap) as p: p.send(...)``; leaving the block flushes."""

    def __init__(self, bootstrap: str, topic: str = "readings", **options: Any) -> None:
        self._loop = _LoopThread()
        try:
            self._async = self._loop.run(self._make(bootstrap, topic, options))
        except BaseException:
            self._loop.close()
            raise

    @staticmethod
    async def _make(bootstrap: str, topic: str, options: dict[str, Any]) -> Publisher:
        publisher = Publisher(bootstrap, topic, **options)  # built on the loop's thread
        await publisher.start()
        return publisher

    def send(self, stream: str, ts: Any, value: Value) -> None:
        self.send_many([(stream, ts, value)])

    def send_many(self, readings: Iterable[ReadingTuple]) -> None:
        messages = _encoded(readings)  # checked here, in the caller's thread
        self._loop.run(self._async._producer.send_many(messages))

    def partition(self, stream: str) -> int:
        return self._async.partition(stream)

    def flush(self) -> None:
        self._loop.run(self._async.flush())

    def close(self) -> None:
        try:
            self._loop.run(self._async.close())
        finally:
            self._loop.close()

    def __enter__(self) -> SyncPublisher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _next(agen: AsyncIterator[Alert]) -> Alert:
    return await agen.__anext__()


def iter_alerts(
    bootstrap: str,
    topic: str = "alerts",
    *,
    from_beginning: bool = False,
    timeout_s: float | None = None,
    security: KafkaSecurity | None = None,
) -> Iterator[Alert]:
    """``alerts`` as a plain generator (for scripts and notebooks); leaving the loop early
    closes the consumer."""
    loop = _LoopThread()
    agen = alerts(
        bootstrap,
        topic,
        from_beginning=from_beginning,
        timeout_s=timeout_s,
        security=security,
    )
    try:
        while True:
            try:
                yield loop.run(_next(agen))
            except StopAsyncIteration:
                return
    finally:
        try:
            loop.run(agen.aclose())  # type: ignore[attr-defined]
        finally:
            loop.close()
