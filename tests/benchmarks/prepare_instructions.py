"""CPU instructions per reading of the worker's preparation of a fetch, counted by callgrind.

The preparation is what the consumer does with every fetched record before any state is
touched: aiokafka ``ConsumerRecord`` -> ``RawRecord`` (``raw_records``) -> ``decode_batch``
-> ``group_by_stream``, with the worker's collector settings. Timings of this path vary by
tens of percent between runs on a shared 2-core machine; the instructions counted by
valgrind's callgrind do not (the same count, whatever else the machine does), so this is
the figure to compare code changes by. Python runs about 50x slower under valgrind.

Run from the repository root (needs ``valgrind``; Debian: ``apt-get install valgrind``)::

    python tests/benchmarks/prepare_instructions.py [--records 20000] [--streams 1000]
        [--stage all|raw|decode|parse]

It runs the path twice under callgrind, over no records and over ``--records``, and prints
the difference per record (start-up and imports cancel out). Asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BATCH = 1000


STAGES = ("all", "raw", "decode", "parse")


def _prepare(n_records: int, n_streams: int, run: int, stage: str) -> None:
    """Build ``n_records`` fetched records, tune the collector, run ``stage`` over the first
    ``run``: ``all`` the whole preparation, ``raw`` only ``raw_records``, ``decode`` only
    ``decode_batch`` (of raw records built beforehand), ``parse`` only the JSON parse."""
    from aiokafka.structs import ConsumerRecord

    from tcnad.topology.settings import Settings
    from tcnad.topology.wire.decode import decode_batch, raw_records
    from tcnad.topology.wire.schemas import encode_reading
    from tcnad.topology.worker.rounds import group_by_stream
    from tcnad.topology.worker.runtime import tune_gc

    def record(i: int) -> ConsumerRecord[bytes, bytes]:
        stream = f"sensor-{i % n_streams:04d}"
        value = encode_reading(stream, 1.7e9 + i, [20.0 + (i % 97) * 0.125])
        return ConsumerRecord("readings", 0, i, 0, 0, stream.encode(), value, None, 0, 0, [])

    fetched = [[record(i) for i in range(lo, lo + BATCH)] for lo in range(0, n_records, BATCH)]
    raws = [raw_records([batch]) for batch in fetched] if stage in ("decode", "parse") else []
    if stage == "parse":  # the fast path's JSON parser, msgspec's typed decoder
        from tcnad.topology.wire.decode import _parse_common
    tune_gc(Settings.model_fields["gc_gen0_threshold"].default)
    for k in range(run // BATCH):
        if stage == "all":
            group_by_stream(decode_batch(raw_records([fetched[k]]), 1)[0])
        elif stage == "raw":
            raw_records([fetched[k]])
        elif stage == "decode":
            decode_batch(raws[k], 1)
        else:
            for r in raws[k]:
                _parse_common(r.value)


def _count(n_records: int, n_streams: int, run: int, stage: str, out: Path) -> int:
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--child",
        str(run),
        "--records",
        str(n_records),
        "--streams",
        str(n_streams),
        "--stage",
        stage,
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000, help="a multiple of 1000")
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--stage", choices=STAGES, default="all", help="part of the path (all)")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        sys.path.insert(0, str(ROOT))
        _prepare(args.records, args.streams, args.child, args.stage)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        base = _count(args.records, args.streams, 0, args.stage, Path(tmp) / "base.out")
        full = _count(args.records, args.streams, args.records, args.stage, Path(tmp) / "f.out")
    per = (full - base) / args.records
    print(
        f"prepare path, stage {args.stage}: {per:,.0f} instructions per record "
        f"({args.records} records of {args.streams} streams in batches of {BATCH}; "
        f"{full:,} - {base:,} instructions)"
    )


if __name__ == "__main__":
    main()
