"""What the batch pipeline needs from its surroundings, as protocols (fakes in unit tests).

The detector it steps is a ``tcnad.detector.engine.StreamDetector``; ``Publisher`` hands
messages to the Kafka producer and returns what completes once every one of them is
acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol


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
