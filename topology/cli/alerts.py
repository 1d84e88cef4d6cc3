"""`tcnad alerts`: print alerts as they arrive, one line each, human-readable or JSON.

Reads every partition of the alerts topic without joining a consumer group, so it never
takes partitions from anyone. Ctrl-C or SIGTERM ends it with status 0, as do ``--max`` and
``--timeout``. A resolved record (the end of an alert's incident) is printed too, but only
alerts count towards ``--max``. A record that is neither is reported on stderr and skipped.
``--save FILE`` also writes each record shown to FILE as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from tcnad.topology.cli.main import settings_from
from tcnad.topology.kafka_io import KafkaIOError, tail, topic_partitions
from tcnad.topology.wire.schemas import Alert, Resolved, parse_alert_record
from tcnad.topology.wire.schemas import number_text as _num
from tcnad.topology.wire.schemas import values_text as _vec

logger = logging.getLogger(__name__)

_WAIT_TOPIC_S = 1.0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "alerts",
        help="tail the alerts topic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Unset, these default to their TCNAD_ variables through Settings (_kafka_settings).
    p.add_argument(
        "--bootstrap", default=None, help="Kafka bootstrap servers (env TCNAD_KAFKA_BOOTSTRAP)"
    )
    p.add_argument("--topic", default=None, help="alerts topic (env TCNAD_ALERTS_TOPIC)")
    p.add_argument("--json", action="store_true", help="print each record as one JSON line")
    p.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest alert instead of now"
    )
    p.add_argument("--max", type=int, default=None, metavar="N", help="exit after N alerts")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this many seconds",
    )
    p.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write each record shown to FILE (replaced), one JSON line each",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if (args.max is not None and args.max < 1) or (args.timeout is not None and args.timeout <= 0):
        print("tcnad alerts: --max must be >= 1 and --timeout > 0", file=sys.stderr)
        return 2
    _kafka_settings(args)
    try:
        return asyncio.run(_tail(args))
    except KafkaIOError as exc:
        print(f"tcnad alerts: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()  # nothing more can be reported; avoid a second error at exit
        return 0


def _kafka_settings(args: argparse.Namespace) -> None:
    """--bootstrap and --topic: the flags, else their TCNAD_ variables, and the Kafka
    security settings, checked by ``Settings`` (a bad one raises ``BadSetting``, reported
    in one line)."""
    s = settings_from(
        {
            "kafka_bootstrap": ("--bootstrap", args.bootstrap),
            "alerts_topic": ("--topic", args.topic),
        }
    )
    args.bootstrap, args.topic, args.security = s.kafka_bootstrap, s.alerts_topic, s


def _when(ts: float) -> str:
    try:
        dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return repr(ts)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_alert(alert: Alert) -> str:
    """One human-readable line: time, stream, value, band and median, severity, tail prob."""
    band = ", ".join(
        f"{_num(lo)}..{_num(hi)}" for lo, hi in zip(alert.lower, alert.upper, strict=False)
    )
    return (
        f"{_when(alert.ts)}  {alert.stream}  value={_vec(alert.value)}  band=[{band}]  "
        f"median={_vec(alert.median)}  severity={_num(alert.severity)}  "
        f"tail_p={alert.tail_prob:.2e}  score={_num(alert.score)}  id={alert.id}"
    )


def format_resolved(done: Resolved) -> str:
    """One human-readable line: time, stream, the incident's alert id and its length."""
    return f"{_when(done.ts)}  {done.stream}  resolved after {done.readings} readings  id={done.id}"


async def _wait_for_topic(args: argparse.Namespace, stop: asyncio.Event, deadline: float) -> bool:
    """True once the topic exists; False when stopped or past the deadline first."""
    announced = False
    while not stop.is_set() and time.monotonic() < deadline:
        if await topic_partitions(args.bootstrap, args.topic, security=args.security):
            return True
        if not announced:
            print(f"tcnad alerts: waiting for topic {args.topic!r}", file=sys.stderr, flush=True)
            announced = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), _WAIT_TOPIC_S)
    return False


async def _tail(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    deadline = math.inf if args.timeout is None else time.monotonic() + args.timeout
    shown = 0
    if not await _wait_for_topic(args, stop, deadline):
        return 0
    records = tail(
        args.bootstrap,
        args.topic,
        from_beginning=args.from_beginning,
        poll_ms=200,
        security=args.security,
    )
    ready = False
    save = _open_save(args.save)
    try:
        async for batch in records:
            if not ready:  # the first poll has placed the consumer: alerts from now on show
                where = "the beginning" if args.from_beginning else "now"
                print(
                    f"tcnad alerts: tailing {args.topic!r} from {where}",
                    file=sys.stderr,
                    flush=True,
                )
                ready = True
            for record in batch:
                shown += _show(record.value, record.partition, record.offset, args.json, save)
                if args.max is not None and shown >= args.max:
                    return 0
            sys.stdout.flush()
            if save is not None:
                save.flush()
            if stop.is_set() or time.monotonic() >= deadline:
                return 0
    finally:
        if save is not None:
            save.close()
        await records.aclose()
    return 0


def _open_save(path: Path | None) -> IO[str] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


def _show(
    value: bytes | None, partition: int, offset: int, as_json: bool, save: IO[str] | None = None
) -> int:
    """Print one record of the alerts topic, an alert or a resolved record; 1 if it was an
    alert (what ``--max`` counts), 0 if it was a resolved record or skipped."""
    try:
        alert = parse_alert_record(value or b"")
    except ValidationError as exc:
        first = exc.errors()[0]
        print(
            f"tcnad alerts: skipping record at partition {partition} offset {offset}: "
            f"not an alert ({first['loc']}: {first['msg']})",
            file=sys.stderr,
            flush=True,
        )
        return 0
    line = format_resolved(alert) if isinstance(alert, Resolved) else format_alert(alert)
    print(alert.model_dump_json() if as_json else line)
    if save is not None:
        save.write(alert.model_dump_json() + "\n")
    return 0 if isinstance(alert, Resolved) else 1
