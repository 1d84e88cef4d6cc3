"""tcnad notify against a real broker and a local webhook that fails its first tries:
every routed alert is delivered once, in order, after retries; a restart resumes after
the committed offsets and redelivers only what was not delivered."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tcnad.topology.cli import main
from tcnad.topology.wire.schemas import Alert
from tests.integration.kafka_helpers import create_topics


class Webhook:
    """A local HTTP server: answers 503 to the POSTs whose 1-based number is in ``fail``
    (and to every POST while ``down``), 200 otherwise, keeping the bodies it accepted."""

    def __init__(self, fail: set[int]) -> None:
        self.fail, self.down = fail, False
        self.posts = 0
        self.accepted: list[Any] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook._lock:
                    hook.posts += 1
                    ok = not hook.down and hook.posts not in hook.fail
                    if ok:
                        hook.accepted.append(json.loads(body))
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def ids(self) -> list[str]:
        return [body["id"] for body in self.accepted]


def alert(stream: str, offset: int, severity: float = 2.0) -> Alert:
    return Alert(
        id=f"{stream}:0:{offset}",
        stream=stream,
        ts=1_700_000_000.0 + offset,
        value=[30.0],
        lower=[18.0],
        median=[21.0],
        upper=[24.0],
        severity=severity,
        tail_prob=1e-5,
        score=0.99,
        model_id="m",
        partition=0,
        offset=offset,
    )


async def publish(bootstrap: str, topic: str, alerts: list[Alert]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for a in alerts:
            await producer.send_and_wait(topic, a.to_bytes(), key=a.stream.encode())
    finally:
        await producer.stop()


@pytest.fixture
def topic(kafka_bootstrap: str, unique_name: str) -> str:
    name = f"alerts-{unique_name}"
    asyncio.run(create_topics(kafka_bootstrap, {name: 1}))
    return name


def notify(bootstrap: str, topic: str, config: Path, group: str, *flags: str) -> int:
    return main(
        [
            "notify",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--group",
            group,
            "--config",
            str(config),
            "--from-beginning",
            "--timeout",
            "60",
            *flags,
        ]
    )


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook(fail={1, 2, 5}) as hook:
        yield hook


def test_each_alert_is_delivered_once_in_order_and_a_restart_resumes_after_the_commit(
    kafka_bootstrap: str, topic: str, unique_name: str, webhook: Webhook, tmp_path: Path
) -> None:
    config = tmp_path / "notify.toml"
    config.write_text(
        "[retry]\nattempts = 4\nbackoff_s = 0.05\n"
        f'[[webhook]]\nurl = "{webhook.url}"\nstreams = ["pump-*"]\nmin_severity = 1.0\n'
    )
    a1, a2, a3, a4 = (alert(f"pump-{i}", 10 + i) for i in range(1, 5))
    records = [a1, a2, a2, a3, alert("fan-1", 20), alert("pump-9", 21, 0.5), a4, a4]
    asyncio.run(publish(kafka_bootstrap, topic, records))
    group = f"notify-{unique_name}"

    # The first run handles three records (a1, a2 and a2's redelivery) and commits them.
    assert notify(kafka_bootstrap, topic, config, group, "--max", "3") == 0
    assert webhook.ids() == [a1.id, a2.id]
    # The restart resumes after the commit: nothing of the first run is sent again.
    assert notify(kafka_bootstrap, topic, config, group, "--max", "5") == 0
    assert webhook.ids() == [a1.id, a2.id, a3.id, a4.id]
    assert webhook.posts == 7  # four deliveries and three 503s retried
    assert [Alert.model_validate(b) for b in webhook.accepted] == [a1, a2, a3, a4]

    # A webhook that fails every try: exit 1, the alert stays uncommitted, and the next
    # run delivers it.
    a5 = alert("pump-5", 30)
    asyncio.run(publish(kafka_bootstrap, topic, [a5]))
    webhook.down = True
    assert notify(kafka_bootstrap, topic, config, group, "--max", "1") == 1
    webhook.down = False
    assert notify(kafka_bootstrap, topic, config, group, "--max", "1") == 0
    assert webhook.ids() == [a1.id, a2.id, a3.id, a4.id, a5.id]
