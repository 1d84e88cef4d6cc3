"""`tcnad ui`: a live dashboard in the browser.

Follows the scores topic (TCNAD_SCORES_TOPIC, every reading's band and score) and the
alerts topic, from now on by default, without joining a consumer group, and serves a page
showing each stream's latest value, band and alert count, the latest alerts, and the
clicked stream's readings, band and alerts as a chart that moves as readings arrive. It
keeps a bounded window in memory: --window readings and the latest alerts of each of at
most --max-streams streams. Prints the page's URL once it serves; Ctrl-C or SIGTERM ends
it with status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

from tcnad.topology.cli.main import settings_from
from tcnad.topology.security import KafkaSecurity

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "ui",
        help="serve a live dashboard of the scores and alerts topics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--bootstrap", default=None, help="Kafka bootstrap servers (env TCNAD_KAFKA_BOOTSTRAP)"
    )
    p.add_argument("--alerts-topic", default=None, help="alerts topic (env TCNAD_ALERTS_TOPIC)")
    p.add_argument(
        "--scores-topic",
        default=None,
        help="scores topic (env TCNAD_SCORES_TOPIC; empty: alerts only, no band)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8050, help="port to serve on (default 8050; 0 = any free)"
    )
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="read both topics from their oldest records instead of from now",
    )
    p.add_argument("--window", type=int, default=600, help="readings kept per stream (default 600)")
    p.add_argument(
        "--max-streams",
        type=int,
        default=200,
        help="streams kept; the least recently updated one goes first (default 200)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from tcnad.topology.ui.board import Limits

    if not 0 <= args.port <= 65535:
        print("tcnad ui: --port must be in 0..65535", file=sys.stderr)
        return 2
    try:
        limits = Limits(window=args.window, streams=args.max_streams)
    except ValueError:
        print("tcnad ui: --window and --max-streams must be >= 1", file=sys.stderr)
        return 2
    s = settings_from(
        {
            "kafka_bootstrap": ("--bootstrap", args.bootstrap),
            "alerts_topic": ("--alerts-topic", args.alerts_topic),
            "scores_topic": ("--scores-topic", args.scores_topic),
        }
    )
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        print(f"tcnad ui: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return _serve(args, s, s, limits, sock)  # Settings carry the Kafka security settings


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _serve(
    args: argparse.Namespace, s: Any, security: KafkaSecurity, limits: Any, sock: socket.socket
) -> int:
    import uvicorn

    from tcnad.topology.ui.app import create_app
    from tcnad.topology.ui.board import Board
    from tcnad.topology.ui.feed import Feed

    topics = {"scores": s.scores_topic, "alerts": s.alerts_topic}
    feeds = [
        Feed(kind, s.kafka_bootstrap, topic, args.from_beginning, security)
        for kind, topic in topics.items()
        if topic
    ]
    config = {
        "alerts_topic": s.alerts_topic,
        "scores_topic": s.scores_topic,
        "window": limits.window,
        "stream_alerts": limits.stream_alerts,
        "max_streams": limits.streams,
        "from_beginning": args.from_beginning,
    }
    app = create_app(Board(limits), feeds, config=config)
    server = _server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
        ),
        app,
        url_of(sock),
    )
    if not s.scores_topic:
        print(
            "tcnad ui: no scores topic (TCNAD_SCORES_TOPIC / --scores-topic): alerts only",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else 1


def _server(config: Any, app: Any, url: str) -> Any:
    """uvicorn's server, ending the pages' event streams at Ctrl-C or SIGTERM and returning
    normally after (uvicorn itself re-raises the signal once it has shut down); it prints
    ``url`` once it accepts connections."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            sigs = (signal.SIGINT, signal.SIGTERM)
            before = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in before.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app.state.stopping = True
            super().handle_exit(sig, frame)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"tcnad ui: serving {url}", flush=True)

    return Server(config)
