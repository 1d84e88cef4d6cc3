"""``tcnad worker``: consume readings, score them, keep state in Redis, emit alerts.

Start as many as there are partitions to share; they form one consumer group.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from tcnad.topology.cli.main import settings_from
from tcnad.topology.security import redact_url
from tcnad.topology.settings import Settings

LEVELS = ("crit", "error", "warn", "info", "debug")
_FLAGS: dict[str, tuple[str, type, str]] = {
    # flag: (settings field, type, help); Settings converts and validates the value
    "--bootstrap": ("kafka_bootstrap", str, "Kafka bootstrap servers host:port[,host:port]"),
    "--redis-url": ("redis_url", str, "Redis URL for stream states"),
    "--readings-topic": ("readings_topic", str, "topic of readings"),
    "--alerts-topic": ("alerts_topic", str, "topic of alerts"),
    "--dlq-topic": ("dlq_topic", str, "dead-letter topic for bad readings"),
    "--scores-topic": ("scores_topic", str, "per-reading scores topic ('' = off)"),
    "--partitions": ("partitions", int, "partitions of the topics the worker declares"),
    "--group-id": ("group_id", str, "consumer group"),
    "--namespace": ("namespace", str, "Redis key prefix"),
    "--model": ("model", str, "model checkpoint ('' = the shipped default)"),
    "--device": ("device", str, "auto | cpu | cuda[:N]"),
    "--batch-max-size": ("batch_max_size", int, "records per batch at most"),
    "--batch-min-size": (
        "batch_min_size",
        int,
        "batch cap while the worker keeps up (doubles per full batch, up to the max)",
    ),
    "--batch-max-wait-ms": ("batch_max_wait_ms", int, "wait for a fuller batch, ms"),
    "--save-interval-ms": (
        "save_interval_ms",
        int,
        "least time between state saves, ms (applied readings are acked once saved)",
    ),
    "--hot-cache-bytes": ("hot_cache_bytes", int, "bytes of hot stream states"),
    "--metrics-port": ("metrics_port", int, "port of /metrics and /health (0 = any)"),
    "--web-port": ("web_port", int, "faust web port (with --web)"),
    "--session-timeout": ("session_timeout_s", float, "consumer group session timeout, s"),
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "worker",
        help="run a worker (consumer group member)",
        description=__doc__,
    )
    for flag, (field, typ, text) in _FLAGS.items():
        env = f"TCNAD_{field.upper()}"
        shown = redact_url(str(os.environ.get(env, _field_default(field))))
        metavar = {int: "N", float: "SECONDS"}.get(typ)
        # No argparse type: Settings converts the string, so a bad value gets its one-line
        # error (tcnad.topology.cli.main) like a bad variable.
        p.add_argument(
            flag, dest=field, default=None, metavar=metavar, help=f"{text} [{env}: {shown}]"
        )
    p.add_argument("--no-metrics", action="store_true", help="no /metrics and /health server")
    p.add_argument("--web", action="store_true", help="enable faust's web server")
    p.add_argument(
        "-l",
        "--log-level",
        dest="log_level",
        choices=LEVELS,
        default=None,
        help="log level (default: $TCNAD_LOG_LEVEL, else info)",
    )
    p.set_defaults(func=run)


def _field_default(field: str) -> object:
    return Settings.model_fields[field].default


def settings_from_args(args: argparse.Namespace) -> Any:
    """The worker's ``Settings``: ``TCNAD_*`` variables overridden by the flags given.
    Raises ``BadSetting`` (one line naming the flag or variable) when one is invalid."""
    flags: dict[str, tuple[str, Any]] = {
        field: (flag, getattr(args, field, None)) for flag, (field, _, _) in _FLAGS.items()
    }
    flags["metrics_enabled"] = ("--no-metrics", False if args.no_metrics else None)
    flags["web_enabled"] = ("--web", True if args.web else None)
    flags["log_level"] = ("--log-level", args.log_level)
    return settings_from(flags)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    # Before anything logs or joins the group: one line and exit 3 if Redis or Kafka is
    # unreachable, rather than a traceback once the first readings arrive.
    from tcnad.topology.worker import checks as preflight

    problem = preflight.check_reachable(settings)
    if problem:
        print(f"tcnad worker: {problem}", file=sys.stderr)
        return preflight.UNREACHABLE
    level = {"crit": "CRITICAL", "warn": "WARNING"}.get(settings.log_level, settings.log_level)
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    preflight.throttle_client_logs()
    import faust

    from tcnad.topology.worker.app import create_app, load_detector
    from tcnad.topology.worker.runtime import tune_gc, watch_gc

    detector = load_detector(settings)
    problem = preflight.check_store(settings, detector.layout)
    if problem:
        print(f"tcnad worker: {problem}", file=sys.stderr)
        return preflight.UNREACHABLE
    app = create_app(settings, detector=detector)
    tune_gc(settings.gc_gen0_threshold)
    watch_gc()
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    if app.fatal is not None:
        print(f"tcnad worker: stopped: {app.fatal}", file=sys.stderr)
        code = code or 1
    return code
