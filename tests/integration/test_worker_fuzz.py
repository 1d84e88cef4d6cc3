"""10,000 malformed messages mixed with good readings through a real `tcnad worker`:
afterwards every good reading was applied (stored step counts) and every bad message is
in the dead-letter topic, once, with the reason it deserves and its original bytes."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz import good_messages, interleave, malformed_cases

from .worker_harness import Workers, produce, read_topic, topics_for, wait_steps, worker_env

pytestmark = pytest.mark.timeout(300)

N_BAD = 10_000
N_STREAMS = 20
PER_STREAM = 200


@pytest.fixture
def workers(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Workers]:
    w = Workers(worker_env(kafka_bootstrap, redis_url, topics_for(unique_name)), tmp_path)
    yield w
    w.stop_all()


def _with_stale_timestamps(good: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes, str]]:
    """Good readings, and after every 10th reading of a stream a copy with the same
    timestamp (the worker must dead-letter it as not_after_last)."""
    out: list[tuple[bytes, bytes, str]] = []
    for i, (key, value) in enumerate(good):
        out.append((key, value, ""))
        if i % 10 == 3:
            body = json.loads(value)
            body["value"] = 0.5
            out.append((key, json.dumps(body).encode(), "not_after_last"))
    return out


async def test_every_good_reading_is_scored_and_every_bad_one_dead_lettered(
    workers: Workers, kafka_bootstrap: str, redis_url: str
) -> None:
    from tcnad.detector.engine import Detector

    good = _with_stale_timestamps(good_messages(N_STREAMS, PER_STREAM, seed=7))
    bad = malformed_cases(N_BAD, seed=11)
    bad_pairs = [(c.key, c.value) for c in bad]
    mixed = interleave([(k, v) for k, v, _ in good], bad_pairs, seed=3)
    # Recover each message's expected reason: the good list keeps its order in the mix.
    good_iter, bad_iter = iter(good), iter(bad)
    expected_reason = []
    for m in mixed:
        expected_reason.append(next(good_iter)[2] if m.good else next(bad_iter).reason)
    topic = workers.env["TCNAD_READINGS_TOPIC"]
    positions = await produce(kafka_bootstrap, topic, [(m.key, m.value) for m in mixed])
    workers.start()

    layout = Detector.from_checkpoint(None, device="cpu", capacity=1).layout
    expected_steps = {f"good-{i:04d}": PER_STREAM for i in range(N_STREAMS)}
    records = await wait_steps(
        redis_url, workers.env["TCNAD_NAMESPACE"], layout, expected_steps, 150.0
    )
    steps = {s: records[s].state.step if s in records else None for s in expected_steps}
    assert steps == expected_steps, workers.logs()

    want = {pos: r for pos, r in zip(positions, expected_reason, strict=True) if r}
    assert len(want) == N_BAD + len([g for g in good if g[2]])
    letters = await read_topic(kafka_bootstrap, workers.env["TCNAD_DLQ_TOPIC"], idle_s=3.0)
    got = {(int(d["partition"]), int(d["offset"])): d for d in letters}  # type: ignore[call-overload]
    assert len(letters) == len(got), "a message was dead-lettered twice"
    assert set(got) == set(want), workers.logs()
    wrong = Counter((want[p], got[p]["reason"]) for p in want if got[p]["reason"] != want[p])
    assert not wrong, f"unexpected reasons (want, got): {wrong}"
    by_pos = {p: m for p, m in zip(positions, mixed, strict=True)}
    for pos, d in got.items():
        original = by_pos[pos].value
        b64 = d["value_b64"]
        assert (None if b64 is None else base64.b64decode(str(b64))) == original
    assert all(p.running for p in workers.procs), workers.logs()
