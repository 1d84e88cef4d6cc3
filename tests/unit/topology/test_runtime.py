"""``WorkerRuntime``'s metrics, without a broker."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from tcnad.topology.worker.metrics import Health, WorkerMetrics
from tcnad.topology.worker.pipeline import BatchOutcome, PreparedBatch
from tcnad.topology.worker.runtime import WorkerRuntime, watch_loop_lag


class _Pipeline:
    def __init__(self) -> None:
        self.hot: dict[str, object] = {}

    async def apply(self, prepared: PreparedBatch) -> BatchOutcome:
        await asyncio.sleep(0.05)  # the batch's work
        return BatchOutcome(records=prepared.records, applied=prepared.records)


def test_a_batch_records_the_age_of_its_oldest_record_at_receipt_and_when_done() -> None:
    metrics = WorkerMetrics()
    runtime = WorkerRuntime(_Pipeline(), metrics, Health())  # type: ignore[arg-type]
    now = time.time()
    prepared = PreparedBatch(3, {}, [], 0.0, oldest_ms=int((now - 0.3) * 1000), received=now)
    asyncio.run(runtime.apply(prepared))
    value = metrics.registry.get_sample_value
    fetch_age = value("tcnad_fetch_age_seconds_sum")
    record_age = value("tcnad_record_age_seconds_sum")
    assert value("tcnad_fetch_age_seconds_count") == 1
    assert fetch_age is not None and 0.29 <= fetch_age <= 0.31
    # once done, the batch's work (>= 50 ms) came on top of the age at receipt
    assert record_age is not None and record_age >= fetch_age + 0.05
    assert value("tcnad_readings_applied_total") == 3


class _TimedPipeline(_Pipeline):
    async def apply(self, prepared: PreparedBatch) -> BatchOutcome:
        return BatchOutcome(
            records=prepared.records,
            applied=prepared.records,
            decode_s=prepared.decode_s,
            load_s=0.25,
            step_s=0.5,
            publish_s=0.125,
        )


def test_each_batch_adds_its_stages_times_to_the_stage_counter() -> None:
    metrics = WorkerMetrics()
    value = metrics.registry.get_sample_value
    name = "tcnad_batch_stage_seconds_total"
    stages = ("decode", "load", "step", "publish")
    assert [value(name, {"stage": s}) for s in stages] == [0.0] * 4  # exported before a batch
    runtime = WorkerRuntime(_TimedPipeline(), metrics, Health())  # type: ignore[arg-type]
    for _ in range(2):
        asyncio.run(runtime.apply(PreparedBatch(3, {}, [], 0.0625)))
    assert [value(name, {"stage": s}) for s in stages] == [0.125, 0.5, 1.0, 0.25]


def test_the_loop_lag_watch_records_how_long_the_loop_was_blocked() -> None:
    metrics = WorkerMetrics()

    async def main() -> None:
        watch = asyncio.ensure_future(watch_loop_lag(metrics, probe_s=0.01))
        await asyncio.sleep(0.05)  # a few probes of an idle loop
        time.sleep(0.12)  # the loop blocked by work that does not yield
        await asyncio.sleep(0.03)
        watch.cancel()

    asyncio.run(main())
    value = metrics.registry.get_sample_value
    probes = value("tcnad_event_loop_lag_seconds_count")
    up_to_100ms = value("tcnad_event_loop_lag_seconds_bucket", {"le": "0.1"})
    total = value("tcnad_event_loop_lag_seconds_sum")
    assert probes is not None and up_to_100ms is not None and total is not None
    assert probes >= 3
    assert probes - up_to_100ms == 1  # the probe due during the block woke 110-120 ms late
    assert 0.105 <= total < 0.12 + 0.1 * probes  # the others (idle loop) were hardly late


def test_the_operations_page_documents_every_metric() -> None:
    page = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"`(tcnad_[a-z_]+)", page))
    # counters are exported as NAME_total; the docs name them that way
    exported = {
        f"{m.name}_total" if m.type == "counter" else m.name
        for m in WorkerMetrics().registry.collect()
    }
    assert len(exported) == 22 and exported <= documented, sorted(exported - documented)


def test_dependency_up_follows_what_the_probes_found() -> None:
    metrics, health = WorkerMetrics(), Health()
    text = metrics.render().decode()
    assert "tcnad_dependency_up{" not in text  # nothing to say before the worker watches
    metrics.dependencies.watch(health)
    text = metrics.render().decode()
    assert 'tcnad_dependency_up{dependency="redis"} 1.0' in text
    assert 'tcnad_dependency_up{dependency="kafka"} 1.0' in text
    health.down = {"redis": "Connection refused"}
    text = metrics.render().decode()
    assert 'tcnad_dependency_up{dependency="redis"} 0.0' in text
    assert 'tcnad_dependency_up{dependency="kafka"} 1.0' in text
