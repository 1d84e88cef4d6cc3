"""What the batch pipeline needs from its surroundings, as protocols (fakes in unit tests).

``DetectorLike`` is the part of ``tcnad.detector.engine.Detector`` the worker uses; ``Publisher``
hands messages to the Kafka producer and returns what completes once every one of them is
acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import StateDelta, StateLayout, StreamState


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


class DetectorLike(Protocol):
    """The ``Detector`` engine as seen by the worker (slots index its state pool)."""

    @property
    def layout(self) -> StateLayout: ...

    @property
    def model_id(self) -> str: ...

    @property
    def spec(self) -> TCNSpec: ...

    @property
    def capacity(self) -> int: ...

    def new_state(self) -> StreamState: ...

    def reset(self, slots: npt.NDArray[np.int64]) -> None:
        """Put ``new_state()`` into each of ``slots``."""
        ...

    def put(self, slots: npt.NDArray[np.int64], states: list[StreamState]) -> None: ...

    def get(self, slots: npt.NDArray[np.int64]) -> list[StreamState]: ...

    def delta(
        self, slots: npt.NDArray[np.int64], since_steps: npt.NDArray[np.int64]
    ) -> list[StateDelta]: ...

    def step(
        self,
        slots: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        times: npt.NDArray[np.float64] | None = None,
    ) -> Any:
        """Step streams ``slots`` (B,) one reading each; ``values`` (B, n_inputs), ``times``
        (B,) the readings' epoch seconds."""
        ...
