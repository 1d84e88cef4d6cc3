"""`tcnad produce`: publish a synthetic fleet with injected anomalies, or replay series files.

The fleet is a seeded mix of sensor and tick streams (see ``tcnad.topology.devstack.fleet``);
``--truth`` writes where its anomalies are. Messages go out keyed by stream id, in
per-partition batches, paced to ``--rate`` readings/s (0 = as fast as possible). Ctrl-C or
SIGTERM stops at the next step boundary, flushes, writes the truth file and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tcnad.detector.lab.tables import TableError, skipped_summary
from tcnad.topology.cli.main import settings_from
from tcnad.topology.devstack.fleet import CsvReplay, SyntheticFleet
from tcnad.topology.kafka_io import BatchProducer, KafkaIOError, ensure_topic

logger = logging.getLogger(__name__)

Message = tuple[bytes, bytes]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "produce",
        help="publish a synthetic fleet with injected anomalies, or replay CSV files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_kafka_args(p)
    _add_run_args(p)
    _add_fleet_args(p)
    p.set_defaults(func=_run)


def _add_kafka_args(p: argparse.ArgumentParser) -> None:
    # Unset flags default to the TCNAD_ variables through Settings (_kafka_settings).
    p.add_argument(
        "--bootstrap", default=None, help="Kafka bootstrap servers (env TCNAD_KAFKA_BOOTSTRAP)"
    )
    p.add_argument("--topic", default=None, help="readings topic (env TCNAD_READINGS_TOPIC)")
    p.add_argument(
        "--partitions",
        default=None,
        metavar="N",
        help="partitions if the topic must be created (env TCNAD_PARTITIONS)",
    )


def _kafka_settings(args: argparse.Namespace) -> None:
    """--bootstrap, --topic and --partitions: the flags, else their TCNAD_ variables, and the
    Kafka security settings, checked by ``Settings`` (a bad one raises ``BadSetting``,
    reported in one line)."""
    s = settings_from(
        {
            "kafka_bootstrap": ("--bootstrap", args.bootstrap),
            "readings_topic": ("--topic", args.topic),
            "partitions": ("--partitions", args.partitions),
        }
    )
    args.bootstrap, args.topic, args.partitions = s.kafka_bootstrap, s.readings_topic, s.partitions
    args.security = s


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--readings",
        type=int,
        default=None,
        help="readings per stream (default: until --duration or Ctrl-C)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="readings/s over all streams, 0 = as fast as possible (default 1000)",
    )
    p.add_argument(
        "--csv",
        type=Path,
        nargs="+",
        default=None,
        metavar="FILE",
        help="replay these series files instead of the fleet, read as tcnad score reads them "
        "(.csv or .parquet: a timestamp column, then --width value columns; rows in time "
        "order); stream id = file stem (default: the synthetic fleet)",
    )
    p.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="with --csv: leave out rows that are not readings and report how many in one "
        "line, instead of stopping at the first with FILE:LINE: reason and exit code 1",
    )
    p.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="write the fleet's ground truth (JSON) here when done",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (none when stderr is not a terminal)",
    )


def _add_fleet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streams", type=int, default=20, help="streams in the fleet (default 20)")
    p.add_argument("--seed", type=int, default=0, help="fleet seed (default 0)")
    p.add_argument(
        "--width",
        type=int,
        default=1,
        help="values per reading, the value columns of each --csv file; must equal the "
        "model's n_inputs (default 1)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between a stream's timestamps (default: streams/rate, so timestamps "
        "follow the clock; 1 when --rate is 0)",
    )
    p.add_argument(
        "--start-ts", type=float, default=None, help="first timestamp, epoch seconds (default: now)"
    )
    p.add_argument(
        "--tick-fraction", type=float, default=0.3, help="share of tick streams (default 0.3)"
    )
    p.add_argument(
        "--anomalous-fraction",
        type=float,
        default=0.5,
        help="share of streams with injected anomalies (default 0.5)",
    )
    p.add_argument(
        "--first-anomaly",
        type=int,
        default=300,
        help="no anomaly before this step, to let streams warm up (default 300)",
    )


def _check_args(args: argparse.Namespace) -> str | None:
    if args.streams < 1 or args.width < 1:
        return "--streams and --width must be >= 1"
    if args.rate < 0 or (args.duration is not None and args.duration <= 0):
        return "--rate must be >= 0 and --duration > 0"
    if args.interval is not None and args.interval <= 0:
        return "--interval must be > 0"
    if args.readings is not None and args.readings < 1:
        return "--readings must be >= 1"
    if args.csv and args.truth:
        return "--truth describes the synthetic fleet; it cannot be used with --csv"
    missing = [str(p) for p in args.csv or () if not p.is_file()]
    return f"no such file: {', '.join(missing)}" if missing else None


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    problem = _check_args(args)
    if problem:
        print(f"tcnad produce: {problem}", file=sys.stderr)
        return 2
    _kafka_settings(args)
    try:
        args.replay = _replay(args)
    except TableError as exc:
        print(f"tcnad produce: {exc}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_produce(args))
    except KafkaIOError as exc:
        print(f"tcnad produce: {exc}", file=sys.stderr)
        return 1


def _source(args: argparse.Namespace) -> tuple[Iterator[Message], int, int | None, object]:
    """Messages, chunk size (a fleet step) and total count (None = without end)."""
    if args.replay is not None:
        replay = args.replay
        return replay.messages(), 1, replay.count(), replay
    fleet = SyntheticFleet(
        args.streams,
        args.seed,
        width=args.width,
        tick_fraction=args.tick_fraction,
        anomalous_fraction=args.anomalous_fraction,
        start_ts=float(int(time.time())) if args.start_ts is None else args.start_ts,
        interval=_interval(args),
        first_anomaly=args.first_anomaly,
    )
    total = None if args.readings is None else args.readings * args.streams
    return fleet.messages(args.readings), args.streams, total, fleet


def _replay(args: argparse.Namespace) -> CsvReplay | None:
    """The --csv files, read and checked before anything is sent (TableError if one has a
    bad row and --skip-bad-rows is not given)."""
    if not args.csv:
        return None
    replay = CsvReplay(args.csv, width=args.width, skip_bad_rows=args.skip_bad_rows)
    line = skipped_summary(replay.tables)
    if line:
        print(f"tcnad produce: {line}", file=sys.stderr)
    return replay


def _interval(args: argparse.Namespace) -> float:
    if args.interval is not None:
        return float(args.interval)
    return args.streams / args.rate if args.rate else 1.0


async def _produce(args: argparse.Namespace) -> int:
    partitions = await ensure_topic(
        args.bootstrap, args.topic, args.partitions, security=args.security
    )
    messages, step, total, source = _source(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    producer = BatchProducer(args.bootstrap, args.topic, security=args.security)
    await producer.start()
    bar = tqdm(
        total=total,
        unit="msg",
        file=sys.stderr,
        mininterval=0.5,
        disable=args.no_progress or not sys.stderr.isatty(),
        smoothing=0.1,
    )
    t0 = time.monotonic()
    try:
        sent = await _pump(messages, producer, bar, stop, args, step, t0)
        await producer.flush()
    finally:
        bar.close()
        await producer.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    elapsed = max(time.monotonic() - t0, 1e-9)
    print(
        f"tcnad produce: {producer.sent} readings to {args.topic} ({partitions} partitions) "
        f"in {elapsed:.1f} s, {producer.sent / elapsed:,.0f}/s",
        file=sys.stderr,
    )
    if args.truth and isinstance(source, SyntheticFleet):
        _write_truth(args.truth, source.truth_document(sent // step))
    return 0


async def _pump(
    messages: Iterator[Message],
    producer: BatchProducer,
    bar: tqdm,
    stop: asyncio.Event,
    args: argparse.Namespace,
    step: int,
    t0: float,
) -> int:
    """Send chunks of whole fleet steps, paced to ``args.rate``, until done or stopped."""
    per_chunk = step * max(1, round(max(args.rate, 1) / 50 / step)) if args.rate else step * 64
    per_chunk = max(per_chunk, step)
    sent = 0
    while not stop.is_set():
        if args.duration is not None and time.monotonic() - t0 >= args.duration:
            break
        chunk = list(itertools.islice(messages, per_chunk))
        if not chunk:
            break
        await producer.send_many(chunk)
        sent += len(chunk)
        bar.update(len(chunk))
        if args.rate:
            await producer.push()  # paced: don't let readings wait in a half-full batch
            ahead = t0 + sent / args.rate - time.monotonic()
            if ahead > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), ahead)
        else:
            await asyncio.sleep(0)  # let signal handlers and acks run
    return sent


def _write_truth(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)
    n = sum(len(s["anomalies"]) for s in doc["streams"])
    print(
        f"tcnad produce: truth ({n} anomalies in {len(doc['anomalous'])} streams, "
        f"{len(doc['clean'])} clean) -> {path}",
        file=sys.stderr,
    )
