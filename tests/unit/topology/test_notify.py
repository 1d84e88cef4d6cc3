"""tcnad notify without a broker: configuration, routing, payloads, retries and dedupe."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tcnad.topology.cli import main
from tcnad.topology.notify import (
    Dedupe,
    DeliveryError,
    NotifyConfigError,
    PostFailed,
    Retry,
    Sender,
    Webhook,
    config_from_flags,
    load_config,
    parse_config,
    render,
)
from tcnad.topology.notify.deliver import http_post
from tcnad.topology.wire.schemas import Alert

from .fakes import make_alert


def config(**retry: Any) -> Any:
    return parse_config(
        {
            "retry": {"attempts": 3, "backoff_s": 0.001, **retry},
            "webhook": [
                {"name": "all", "url": "http://h/all"},
                {
                    "name": "pumps",
                    "url": "http://h/pumps",
                    "format": "slack",
                    "streams": ["pump-*", "valve-?"],
                    "min_severity": 2,
                },
            ],
        }
    )


# --- configuration -------------------------------------------------------------------


def test_a_toml_file_gives_webhooks_routes_and_retry(tmp_path: Path) -> None:
    path = tmp_path / "notify.toml"
    path.write_text(
        "dedupe = 10\n[retry]\nattempts = 4\nbackoff_s = 0.25\n"
        '[[webhook]]\nname = "am"\nurl = "http://am:9093/api/v2/alerts"\n'
        'format = "alertmanager"\nstreams = ["pump-*"]\nmin_severity = 1.5\n'
        'headers = { Authorization = "Bearer x" }\n'
    )
    cfg = load_config(path)
    (hook,) = cfg.webhooks
    assert (hook.name, hook.format, hook.streams, hook.min_severity) == (
        "am",
        "alertmanager",
        ("pump-*",),
        1.5,
    )
    assert hook.headers == (("Authorization", "Bearer x"),)
    assert (cfg.retry.attempts, cfg.retry.backoff_s, cfg.dedupe) == (4, 0.25, 10)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "no [[webhook]] entry"),
        ({"webhook": [{"name": "a"}]}, "webhook 1 (a): url is missing"),
        ({"webhook": [{"url": "ftp://x/"}]}, "must be http:// or https://"),
        ({"webhook": [{"url": "http://x/", "format": "xml"}]}, "format = 'xml' is not one of"),
        ({"webhook": [{"url": "http://x/", "colour": 1}]}, "unknown key 'colour'"),
        ({"webhook": [{"url": "http://x/", "min_severity": -1}]}, "min_severity = -1 must be"),
        ({"webhook": [{"url": "http://x/", "streams": []}]}, "streams = [] must be"),
        ({"webhook": [{"url": "http://x/"}], "retry": {"attempts": 0}}, "attempts = 0 must be"),
        ({"webhook": [{"url": "http://x/", "name": "a"}] * 2}, "two webhooks are named 'a'"),
        ({"webhooks": []}, "unknown key 'webhooks'"),
    ],
)
def test_a_bad_configuration_is_one_line_naming_what(data: dict[str, Any], says: str) -> None:
    with pytest.raises(NotifyConfigError) as info:
        parse_config(data, "notify.toml")
    text = str(info.value)
    assert text.startswith("notify.toml") and says in text and "\n" not in text


def test_a_file_that_is_not_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[webhook]\nurl = 1\n")
    with pytest.raises(NotifyConfigError, match=r"bad.toml: not valid TOML"):
        load_config(path)
    with pytest.raises(NotifyConfigError, match=r"missing.toml: cannot read"):
        load_config(tmp_path / "missing.toml")


def test_the_command_reports_a_bad_configuration_in_one_line_with_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notify.toml"
    path.write_text('[[webhook]]\nurl = "http://x/"\nformat = "teams"\n')
    assert main(["notify", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tcnad notify: ") and "format = 'teams'" in err
    assert "\n" not in err
    assert main(["notify"]) == 2
    assert "no webhook" in capsys.readouterr().err
    assert main(["notify", "--config", str(path), "--slack", "http://x/"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_flags_build_the_same_routes() -> None:
    cfg = config_from_flags(
        {"json": ["http://a/"], "slack": ["http://b/"]}, ["pump-*"], 2.0, Retry(attempts=2)
    )
    assert [(w.format, w.streams, w.min_severity) for w in cfg.webhooks] == [
        ("json", ("pump-*",), 2.0),
        ("slack", ("pump-*",), 2.0),
    ]
    assert cfg.retry.attempts == 2


# --- routing -------------------------------------------------------------------------


def test_routes_by_stream_glob_and_minimum_severity() -> None:
    cfg = config()
    names = lambda a: [w.name for w in cfg.routes(a)]  # noqa: E731
    assert names(make_alert("pump-1", severity=2.5)) == ["all", "pumps"]
    assert names(make_alert("pump-1", severity=1.9)) == ["all"]
    assert names(make_alert("valve-3", severity=2.0)) == ["all", "pumps"]
    assert names(make_alert("valve-33", severity=9)) == ["all"]
    assert names(make_alert("Pump-1", severity=9)) == ["all"]  # globs are case-sensitive
    assert names(make_alert("pump-1", severity=math.nan)) == ["all"]


def test_webhook_names_itself_without_credentials() -> None:
    hook = Webhook(name="x", url="https://user:secret@hooks.example/T1/B2?token=abc")
    assert hook.where == "x (https://hooks.example/T1/B2)"


# --- payloads ------------------------------------------------------------------------


def test_the_json_payload_is_the_alert_record() -> None:
    alert = make_alert()
    body = json.loads(render("json", alert))
    assert Alert.model_validate(body) == alert


def test_the_alertmanager_payload_has_the_api_v2_shape() -> None:
    body = json.loads(render("alertmanager", make_alert(severity=3.5)))
    assert isinstance(body, list) and len(body) == 1
    (entry,) = body
    assert set(entry) == {"labels", "annotations", "startsAt"}
    labels, notes = entry["labels"], entry["annotations"]
    assert labels["alertname"] == "TcnadAnomaly" and labels["stream"] == "pump-1"
    assert labels["severity"] == "critical" and labels["alert_id"] == "pump-1:0:7"
    assert all(isinstance(v, str) for v in {**labels, **notes}.values())
    assert entry["startsAt"] == "2023-11-14T22:13:20.500Z"
    assert "31.2" in notes["summary"] and notes["band"] == "[18.1..24.3]"
    mild = json.loads(render("alertmanager", make_alert(severity=1.0)))
    assert mild[0]["labels"]["severity"] == "warning"


def test_the_slack_payload_is_one_escaped_text_line() -> None:
    body = json.loads(render("slack", make_alert(stream="a<b>&c")))
    assert set(body) == {"text"}
    text = body["text"]
    assert "\n" not in text and "`a&lt;b&gt;&amp;c`" in text
    assert "31.2" in text and "18.1..24.3" in text and "a&lt;b&gt;&amp;c:0:7" in text


def test_nan_in_an_alert_is_written_as_null_or_nan() -> None:
    alert = make_alert().model_copy(update={"lower": [math.nan], "score": math.nan})
    assert json.loads(render("json", alert))["score"] is None
    assert "nan..24.3" in json.loads(render("slack", alert))["text"]


# --- dedupe and retries --------------------------------------------------------------


def test_dedupe_forgets_the_oldest_ids_past_its_size() -> None:
    d = Dedupe(3)
    for i in range(5):
        d.add(str(i))
    assert len(d) == 3 and "0" not in d and "1" not in d and "4" in d
    d.add("2")  # seen again: now the newest
    d.add("5")
    assert "2" in d and "3" not in d
    none = Dedupe(0)
    none.add("x")
    assert "x" not in none


class FlakyPost:
    """Fails the first ``failures`` posts to each URL with ``error``, then accepts."""

    def __init__(self, failures: int, retriable: bool = True) -> None:
        self.failures, self.retriable = failures, retriable
        self.tries: dict[str, int] = {}
        self.delivered: list[tuple[str, bytes]] = []

    async def __call__(self, webhook: Webhook, body: bytes) -> None:
        n = self.tries[webhook.url] = self.tries.get(webhook.url, 0) + 1
        if n <= self.failures:
            raise PostFailed("HTTP 503 Service Unavailable", self.retriable)
        self.delivered.append((webhook.url, body))


async def test_delivery_retries_then_delivers_once_per_webhook_and_drops_duplicates() -> None:
    post = FlakyPost(failures=2)
    sender = Sender(config(), post=post)
    alert = make_alert(severity=2.5)
    assert await sender.deliver(alert)
    assert not await sender.deliver(alert)  # a redelivery with the same id
    assert [url for url, _ in post.delivered] == ["http://h/all", "http://h/pumps"]
    s = sender.stats
    assert (s.delivered, s.posts, s.retries, s.duplicates) == (1, 2, 4, 1)


async def test_delivery_gives_up_after_the_last_try() -> None:
    sender = Sender(config(attempts=3), post=FlakyPost(failures=3))
    with pytest.raises(DeliveryError, match=r"all \(http://h/all\) failed 3 tries .* HTTP 503"):
        await sender.deliver(make_alert())
    assert make_alert().id not in sender.dedupe


async def test_a_refusal_is_not_retried() -> None:
    post = FlakyPost(failures=1, retriable=False)
    sender = Sender(config(), post=post)
    assert await sender.deliver(make_alert(severity=1))
    assert sender.stats.rejected == 1 and sender.stats.retries == 0 and post.delivered == []


def test_backoff_doubles_up_to_its_maximum() -> None:
    r = Retry(attempts=9, backoff_s=0.5, max_backoff_s=3)
    assert [r.delay(i) for i in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# --- HTTP ----------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[str, list[int]]]:
    """A local server answering each POST with the next status of ``codes`` (then 200)."""
    codes: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(codes.pop(0) if codes else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", codes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_http_post_tells_retriable_from_final_answers(
    server: tuple[str, list[int]],
) -> None:
    url, codes = server
    hook = Webhook(name="h", url=url, timeout_s=2)
    await http_post(hook, b"{}")
    for code, retriable in ((503, True), (429, True), (400, False), (404, False)):
        codes.append(code)
        with pytest.raises(PostFailed) as info:
            await http_post(hook, b"{}")
        assert info.value.retriable is retriable and str(code) in str(info.value)
    closed = Webhook(name="c", url="http://127.0.0.1:9/", timeout_s=1)
    with pytest.raises(PostFailed) as info:
        await http_post(closed, b"{}")
    assert info.value.retriable


async def test_a_stop_ends_the_wait_between_retries() -> None:
    from tcnad.topology.notify.deliver import Stopped

    stop = asyncio.Event()
    sender = Sender(config(backoff_s=30, max_backoff_s=30), post=FlakyPost(5), stop=stop)
    task = asyncio.create_task(sender.deliver(make_alert()))
    await asyncio.sleep(0.05)
    stop.set()
    with pytest.raises(Stopped):
        await asyncio.wait_for(task, 2)
