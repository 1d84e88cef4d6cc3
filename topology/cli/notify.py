"""`tcnad notify`: deliver alerts to webhooks: generic JSON, Alertmanager, Slack-compatible.

Consumes the alerts topic in its own consumer group (--group, default tcnad-notify) and
POSTs each alert to the webhooks whose stream globs and minimum severity it matches.
Failed POSTs are retried with backoff; an alert id already delivered is not sent again;
offsets are committed only once their alerts are delivered. Webhooks come from a TOML file
(--config; see docs/alerts.md) or from the flags --webhook / --alertmanager / --slack,
which share --stream and --min-severity.

Exit status: 0 on Ctrl-C, SIGTERM, --max or --timeout; 1 when a webhook failed every try
or Kafka did not answer (the undelivered alerts stay uncommitted); 2 for a bad setting.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from tcnad.topology.cli.main import settings_from
from tcnad.topology.kafka_io import KafkaIOError
from tcnad.topology.notify import (
    DEFAULT_GROUP,
    DeliveryError,
    NotifyConfig,
    NotifyConfigError,
    Retry,
    config_from_flags,
    load_config,
    run_notify,
)
from tcnad.topology.notify.deliver import Stopped
from tcnad.topology.security import KafkaSecurity

_PROG = "tcnad notify"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "notify",
        help="deliver alerts to webhooks (JSON, Alertmanager, Slack)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--bootstrap", default=None, help="Kafka bootstrap servers (env TCNAD_KAFKA_BOOTSTRAP)"
    )
    p.add_argument("--topic", default=None, help="alerts topic (env TCNAD_ALERTS_TOPIC)")
    p.add_argument("--group", default=DEFAULT_GROUP, help=f"consumer group ({DEFAULT_GROUP})")
    p.add_argument("--config", metavar="FILE", help="TOML file of webhooks and routes")
    p.add_argument("--webhook", action="append", default=[], metavar="URL", help="JSON webhook")
    p.add_argument(
        "--alertmanager",
        action="append",
        default=[],
        metavar="URL",
        help="Alertmanager API, e.g. http://alertmanager:9093/api/v2/alerts",
    )
    p.add_argument(
        "--slack", action="append", default=[], metavar="URL", help="Slack-compatible webhook"
    )
    p.add_argument(
        "--stream",
        action="append",
        default=[],
        metavar="GLOB",
        help="deliver only streams matching a glob (repeatable; default all)",
    )
    p.add_argument(
        "--min-severity",
        type=float,
        default=0.0,
        metavar="X",
        help="deliver only alerts at least X band widths outside the band (default 0)",
    )
    p.add_argument(
        "--retries", type=int, default=None, metavar="N", help="tries per webhook (default 8)"
    )
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="a new group starts at the oldest alert instead of the next one",
    )
    p.add_argument("--max", type=int, default=None, metavar="N", help="exit after N records")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="exit after SECONDS"
    )
    p.set_defaults(func=_run)


def _config(args: argparse.Namespace) -> NotifyConfig:
    """The webhooks from --config or from the webhook flags (not both)."""
    urls = {"json": args.webhook, "alertmanager": args.alertmanager, "slack": args.slack}
    flagged = any(urls.values()) or args.stream or args.min_severity
    if args.config and flagged:
        raise NotifyConfigError(
            "--config and the webhook flags (--webhook, --alertmanager, --slack, --stream, "
            "--min-severity) exclude each other"
        )
    if args.config:
        config = load_config(args.config)
    elif not any(urls.values()):
        raise NotifyConfigError("no webhook: give --config, --webhook, --alertmanager or --slack")
    else:
        config = config_from_flags(
            {k: v for k, v in urls.items() if v}, args.stream, args.min_severity
        )
    if args.retries is not None:
        if args.retries < 1:
            raise NotifyConfigError(f"--retries={args.retries} must be at least 1")
        r = config.retry
        retry = Retry(args.retries, r.backoff_s, r.max_backoff_s)
        config = NotifyConfig(config.webhooks, retry, config.dedupe)
    return config


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if (args.max is not None and args.max < 1) or (args.timeout is not None and args.timeout <= 0):
        print(f"{_PROG}: --max must be >= 1 and --timeout > 0", file=sys.stderr)
        return 2
    if not args.group:
        print(f"{_PROG}: --group must not be empty", file=sys.stderr)
        return 2
    try:
        config = _config(args)
    except NotifyConfigError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    s = settings_from(
        {
            "kafka_bootstrap": ("--bootstrap", args.bootstrap),
            "alerts_topic": ("--topic", args.topic),
        }
    )
    try:
        return asyncio.run(_notify(args, config, s.kafka_bootstrap, s.alerts_topic, s))
    except (DeliveryError, KafkaIOError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 1


async def _notify(
    args: argparse.Namespace,
    config: NotifyConfig,
    bootstrap: str,
    topic: str,
    security: KafkaSecurity,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        stats = await run_notify(
            bootstrap,
            topic,
            config,
            group=args.group,
            from_beginning=args.from_beginning,
            security=security,
            max_records=args.max,
            timeout_s=args.timeout,
            stop=stop,
        )
    except Stopped:
        return 0
    print(
        f"{_PROG}: delivered {stats.delivered} alerts ({stats.posts} posts, "
        f"{stats.retries} retries, {stats.rejected} refused, {stats.duplicates} duplicates, "
        f"{stats.unrouted} unrouted, {stats.invalid} not alerts)",
        file=sys.stderr,
    )
    return 0
