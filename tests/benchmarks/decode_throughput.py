"""Decode throughput of ``tcnad.topology.wire.decode.decode_batch`` (readings/s), printed.

Run from the repository root:
    PYTHONPATH=. python tests/benchmarks/decode_throughput.py [--n 200000] [--bad-fraction 0]
Also prints plain ``json.loads`` and ``Reading.model_validate_json`` on the same records, so
the figures compare as ratios measured in one run on one machine, and the worker's whole
preparation of a fetch (aiokafka records -> ``RawRecord`` -> ``decode_batch`` ->
``group_by_stream``), all with the worker's collector settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from collections.abc import Callable

from aiokafka.structs import ConsumerRecord

from tcnad.topology.settings import Settings
from tcnad.topology.wire.decode import RawRecord, decode_batch, raw_records
from tcnad.topology.wire.schemas import Reading, encode_reading
from tcnad.topology.worker.rounds import group_by_stream
from tcnad.topology.worker.runtime import tune_gc
from tests.fuzz import malformed_messages


def _records(n: int, width: int, bad_fraction: float, seed: int) -> list[RawRecord]:
    n_bad = int(n * bad_fraction)
    out = []
    for i in range(n - n_bad):
        stream = f"sensor-{i % 1000:04d}"
        vals = [20.0 + (i % 97) * 0.125 + j for j in range(width)]
        raw = encode_reading(stream, 1.7e9 + i, vals)
        out.append(RawRecord("readings", i % 8, i, stream.encode(), raw, None))
    for j, (key, value) in enumerate(malformed_messages(n_bad, seed=seed, width=width)):
        out.append(RawRecord("readings", 0, n + j, key, value, None))
    return out


def _rate(
    fn: Callable[[list[RawRecord]], None], records: list[RawRecord], repeat: int = 3
) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(records)
        best = min(best, time.perf_counter() - t0)
    return len(records) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--width", type=int, default=1)
    ap.add_argument("--bad-fraction", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    records = _records(args.n, args.width, args.bad_fraction, seed=1)
    random.Random(0).shuffle(records)
    batches = [records[i : i + args.batch] for i in range(0, len(records), args.batch)]

    def run_decode(_: list[RawRecord]) -> None:
        for b in batches:
            decode_batch(b, args.width)

    fetched = [
        [
            ConsumerRecord(r.topic, r.partition, r.offset, 0, 0, r.key, r.value, None, 0, 0, [])
            for r in b
        ]
        for b in batches
    ]

    def run_prepare(_: list[RawRecord]) -> None:  # the worker's path from fetched records
        for b in fetched:
            decoded, _dead = decode_batch(raw_records([b]), args.width)
            group_by_stream(decoded)

    def run_loads(_: list[RawRecord]) -> None:  # parse only, no checks, results kept per batch
        for b in batches:
            out = []
            for r in b:
                with contextlib.suppress(ValueError, RecursionError):
                    out.append(json.loads(r.value or b""))

    def run_pydantic(_: list[RawRecord]) -> None:  # no key, width or duplicate-key checks
        for b in batches:
            out = []
            for r in b:
                with contextlib.suppress(ValueError):
                    out.append(Reading.model_validate_json(r.value or b""))

    # The worker's collector settings, applied as the worker does once it has started
    # (the inputs above are frozen with the rest, like the worker's model and modules).
    tune_gc(Settings.model_fields["gc_gen0_threshold"].default)
    print(f"records={len(records)} width={args.width} bad_fraction={args.bad_fraction} "
          f"batch={args.batch} (best of 3; results kept per batch in every variant)")  # fmt: skip
    for name, fn in [
        ("json.loads (parse only)", run_loads),
        ("Reading.model_validate_json", run_pydantic),
        ("decode_batch", run_decode),
        ("fetched -> RawRecord -> decode_batch -> group_by_stream", run_prepare),
    ]:
        print(f"{name:56s} {_rate(fn, records):12,.0f} records/s")


if __name__ == "__main__":
    main()
