"""A worker's stop while its broker is down: the steps that need the broker (the final save,
which waits for the broker's acks; faust's commits; the producer's flush and close) give up
in time instead of waiting for the broker, and giving up acks and commits nothing unsaved.
Without a broker: faust's commit is replaced by one that never returns, as aiokafka's does
while the group coordinator does not answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from tcnad.topology.worker.consumer import BatchConsumer, spans
from tcnad.topology.worker.kafka_client import StopBoundedProducer
from tcnad.topology.worker.saver import bounded

from .test_consumer import GatedHandler, Rec, consumer, saving


async def test_bounded_gives_up_without_cancelling_the_work() -> None:
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    assert await bounded(asyncio.sleep(0, "quick"), lambda: 1.0) == ("quick",)
    task = asyncio.ensure_future(work())
    deadline = time.monotonic() + 0.2
    assert await bounded(task, lambda: deadline - time.monotonic(), poll_s=0.05) is None
    assert not task.done()  # it goes on
    release.set()
    assert await task == "done"


def test_the_stop_s_broker_steps_share_one_short_budget_while_the_broker_is_down() -> None:
    c = consumer()
    t0 = time.monotonic()
    assert c.stop_time_left(10.0, t0) == pytest.approx(10.0, abs=0.5)  # broker answers
    c.broker_reachable = lambda: False
    # The budget runs from the stop's first step (t0 - 2), whatever each step's own bound.
    c._stop_began = t0 - 2.0
    assert c.stop_time_left(10.0, t0) == pytest.approx(c.outage_stop_timeout_s - 2.0, abs=0.5)
    c._stop_began = t0 - c.outage_stop_timeout_s
    assert c.stop_time_left(10.0, t0) == 0.0


async def test_the_final_save_gives_up_once_the_broker_is_found_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(BatchConsumer, "outage_stop_timeout_s", 0.3)
    c, handler, tp, in_flight = await saving(1, 4)  # a save waiting (for the broker's acks)
    c.saver.applied(spans({tp: [Rec(4), Rec(5)]}))
    down = False
    c.broker_reachable = lambda: not down
    stopping = asyncio.ensure_future(c._final_flush())
    await asyncio.sleep(0.4)
    assert not stopping.done()  # the broker answers: the save may take finish_timeout_s
    down = True  # the dependency probe finds the broker down
    await asyncio.wait_for(stopping, 2.0)
    assert c._new_offset(tp) is None  # nothing unsaved was acked
    # The abandoned save is not cancelled: if the broker comes back before the process
    # ends, it saves and then acks what it covers, as any save does.
    handler.release.set()
    assert await in_flight
    for _ in range(100):
        if handler.flushes == 2:
            break
        await asyncio.sleep(0.01)
    assert handler.flushes == 2 and c._new_offset(tp) == 6


async def test_a_commit_of_the_stop_gives_up_and_commits_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(BatchConsumer, "stop_step_timeout_s", 0.3)
    never = asyncio.Event()
    calls: list[object] = []

    async def stuck_commit(self: Any, *args: Any, **kwargs: Any) -> bool:
        calls.append(self)
        await never.wait()  # aiokafka retries while the coordinator does not answer
        return True

    monkeypatch.setattr(faust_aiokafka.Consumer, "commit", stuck_commit)
    c = consumer()
    c.batch_handler = GatedHandler()  # type: ignore[assignment]
    tp = TP("readings", 0)
    c.ack_spans(spans({tp: [Rec(o) for o in range(3)]}))
    c.app._stopped.set()  # the app is stopping
    t0 = time.monotonic()
    assert await asyncio.wait_for(c.commit(), 5.0) is False
    assert time.monotonic() - t0 < 5.0 and calls == [c]
    assert c._committed_offset[tp] is None and c._new_offset(tp) == 3


async def test_a_commit_while_running_still_waits_for_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(BatchConsumer, "stop_step_timeout_s", 0.1)
    release = asyncio.Event()

    async def slow_commit(self: Any, *args: Any, **kwargs: Any) -> bool:
        await release.wait()
        return True

    monkeypatch.setattr(faust_aiokafka.Consumer, "commit", slow_commit)
    c = consumer()
    committing = asyncio.ensure_future(c.commit())
    await asyncio.sleep(0.3)
    assert not committing.done()  # not stopping: no bound
    release.set()
    assert await committing is True


def test_the_worker_s_transport_closes_its_producer_within_the_stop_s_bounds() -> None:
    c = consumer()
    assert isinstance(c.app.producer, StopBoundedProducer)
