"""``step_rounds``: round r steps the r-th reading of every stream that has one, longest
stream first (ties in plan order), with each reading's values, time, partition and offset."""

from __future__ import annotations

from typing import Any

import numpy as np

from tcnad.topology.wire.decode import Decoded, RawRecord
from tcnad.topology.worker.hotcache import HotEntry
from tcnad.topology.worker.rounds import StepPlan, step_rounds


class Recorder:
    """A detector that records its calls; two values per reading."""

    class spec:
        n_inputs = 2

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def step(self, slots: Any, values: Any, times: Any, where: Any) -> int:
        self.calls.append((slots.tolist(), values.tolist(), times.tolist(), where.tolist()))
        return len(self.calls)


def test_each_round_steps_the_next_reading_of_every_stream_that_has_one() -> None:
    lengths = [2, 5, 0, 5, 1, 3]
    plan, offset = StepPlan(), 100
    for s, n in enumerate(lengths):
        items = []
        for k in range(n):
            rec = RawRecord("readings", s % 4, offset, None, b"", None)
            items.append(Decoded(rec, f"s{s}", 1000.0 * s + k, (float(offset), -float(k))))
            offset += 1
        plan.add(f"s{s}", HotEntry(10 + s, 0, -1, -np.inf), items)
    det = Recorder()
    res = step_rounds(det, plan)  # type: ignore[arg-type]
    order = [1, 3, 5, 0, 4, 2]  # longest first, ties in plan order
    assert res.order.tolist() == order and res.rounds == [1, 2, 3, 4, 5]
    for r, (slots, values, times, where) in enumerate(det.calls):
        streams = [i for i in order if lengths[i] > r]
        want = [plan.items[i][r] for i in streams]
        assert slots == [10 + i for i in streams]
        assert values == [list(d.values) for d in want]
        assert times == [d.ts for d in want]
        assert where == [[d.record.partition, d.record.offset] for d in want]


def test_an_empty_plan_steps_nothing() -> None:
    det = Recorder()
    res = step_rounds(det, StepPlan())  # type: ignore[arg-type]
    assert res.rounds == [] and det.calls == []
