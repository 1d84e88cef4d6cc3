"""A small deterministic stand-in for ``tcnad.detector.engine.Detector``, test publishers,
and an alert record for the tests of what consumes alerts.

The fake's state depends on every applied value in order (a ring of recent values, a sum
and the last value), so applying a reading twice or skipping one changes the state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import StateDelta, StateLayout, StreamState
from tcnad.state.codec import state_delta
from tcnad.topology.wire.decode import RawRecord
from tcnad.topology.wire.schemas import Alert
from tcnad.topology.worker.batch import OutMessage

LAYOUT = StateLayout(ring_shapes=((2, 1), (4, 2)), stats_size=3, model_id="fake01")


@dataclass
class FakeResult:
    lower: npt.NDArray[np.float64]
    median: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    tail_prob: npt.NDArray[np.float64]
    severity: npt.NDArray[np.float64]
    alert: npt.NDArray[np.bool_]
    warm: npt.NDArray[np.bool_]


class FakeDetector:
    """Pool of ``capacity`` slots; alerts when a value is > 10 away from the running mean
    after ``warmup`` readings. stats = (sum, last value, count)."""

    model_id = "fake01"
    layout = LAYOUT
    spec = TCNSpec(n_inputs=1)

    def __init__(self, capacity: int = 64, warmup: int = 3) -> None:
        self.capacity = capacity
        self.warmup = warmup
        self.steps = np.zeros(capacity, dtype=np.int64)
        self.rings = [np.zeros((capacity, n, c), dtype=np.float32) for n, c in LAYOUT.ring_shapes]
        self.stats = np.zeros((capacity, LAYOUT.stats_size), dtype=np.float64)
        self.step_calls: list[int] = []
        self.step_times: list[list[float] | None] = []

    def new_state(self) -> StreamState:
        rings = tuple(np.zeros(s, dtype=np.float32) for s in LAYOUT.ring_shapes)
        return StreamState(0, rings, np.zeros(LAYOUT.stats_size))

    def reset(self, slots: npt.NDArray[np.int64]) -> None:
        self.put(slots, [self.new_state() for _ in slots])

    def put(self, slots: npt.NDArray[np.int64], states: Sequence[StreamState]) -> None:
        for slot, st in zip(slots, states, strict=True):
            self.steps[slot] = st.step
            for pool, ring in zip(self.rings, st.rings, strict=True):
                pool[slot] = ring
            self.stats[slot] = st.stats

    def get(self, slots: npt.NDArray[np.int64]) -> list[StreamState]:
        return [
            StreamState(
                int(self.steps[s]),
                tuple(p[s].copy() for p in self.rings),
                self.stats[s].copy(),
            )
            for s in slots
        ]

    def delta(
        self, slots: npt.NDArray[np.int64], since_steps: npt.NDArray[np.int64]
    ) -> list[StateDelta]:
        return [
            state_delta(st, int(since))
            for st, since in zip(self.get(slots), since_steps, strict=True)
        ]

    def step(
        self,
        slots: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        times: npt.NDArray[np.float64] | None = None,
        where: npt.NDArray[np.float64] | None = None,
    ) -> FakeResult:
        assert len(set(slots.tolist())) == len(slots), "a slot twice in one step"
        assert values.shape == (len(slots), 1)
        self.step_calls.append(len(slots))
        self.step_times.append(None if times is None else times.tolist())
        v = values[:, 0]
        count = self.stats[slots, 2]
        mean = np.where(count > 0, self.stats[slots, 0] / np.maximum(count, 1), np.nan)
        warm = self.steps[slots] >= self.warmup
        alert = warm & (np.abs(v - mean) > 10)
        for j, pool in enumerate(self.rings):
            length = pool.shape[1]
            rows = self.steps[slots] % length
            pool[slots, rows, :] = (v[:, None] + j).astype(np.float32)
        self.stats[slots, 0] += v
        self.stats[slots, 1] = v
        self.stats[slots, 2] += 1
        self.steps[slots] += 1
        band = mean[:, None]
        return FakeResult(
            band - 10,
            band,
            band + 10,
            np.abs(v - mean) / 100,
            np.full(len(v), 0.01),
            np.abs(v - mean) / 20,
            alert,
            warm,
        )


def reference_state(values: Sequence[float]) -> StreamState:
    """The fake's state after applying ``values`` in order to a fresh stream."""
    det = FakeDetector(capacity=1)
    for v in values:
        det.step(np.array([0]), np.array([[v]]))
    return det.get(np.array([0]))[0]


class RecordingPublisher:
    """Keeps sent messages; ``fail`` makes the next send raise, ``fail_ack`` makes the acks
    of the next sends fail, ``hold`` (while not set) keeps acks from completing. The log has
    "publish" per send and "acked" per completed ack."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.messages: list[OutMessage] = []
        self.log = log if log is not None else []
        self.fail: Exception | None = None
        self.fail_ack: Exception | None = None
        self.hold: asyncio.Event | None = None

    async def send(self, messages: Sequence[OutMessage]) -> Awaitable[object]:
        if self.fail is not None:
            raise self.fail
        self.log.append("publish")
        self.messages.extend(messages)
        return asyncio.ensure_future(self._ack(self.fail_ack))

    async def _ack(self, error: Exception | None) -> None:
        await asyncio.sleep(0)
        if self.hold is not None:
            await self.hold.wait()
        if error is not None:
            raise error
        self.log.append("acked")

    def on(self, topic: str) -> list[dict[str, object]]:
        return [json.loads(m.value) for m in self.messages if m.topic == topic]


def reading(
    stream: str, ts: float, value: float, offset: int, partition: int = 0, topic: str = "readings"
) -> RawRecord:
    body = json.dumps({"stream": stream, "ts": ts, "value": value}).encode()
    return RawRecord(topic, partition, offset, stream.encode(), body, None)


def raw(
    value: bytes | None, offset: int, key: bytes | None = None, partition: int = 0
) -> RawRecord:
    return RawRecord("readings", partition, offset, key, value, None)


def make_alert(stream: str = "pump-1", offset: int = 7, severity: float = 1.5) -> Alert:
    """An alert of ``stream`` at ``offset`` of partition 0: value 31.2 above its band
    [18.1, 24.3]."""
    return Alert(
        id=f"{stream}:0:{offset}",
        stream=stream,
        ts=1_700_000_000.5,
        value=[31.2],
        lower=[18.1],
        median=[21.0],
        upper=[24.3],
        severity=severity,
        tail_prob=2e-5,
        score=0.998,
        model_id="default-3f2a9c1b",
        partition=0,
        offset=offset,
    )
