"""Prometheus metrics of a worker and its ``/metrics`` + ``/health`` HTTP endpoint.

Each worker owns a ``CollectorRegistry`` (no process-global state), served by a small
threaded HTTP server: ``GET /metrics`` (Prometheus text format) and ``GET /health`` (JSON;
200 while the worker is healthy, 503 once it has failed and while Redis or Kafka does not
answer its probes).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
_SIZE_BUCKETS = (1, 10, 100, 500, 1000, 2500, 5000, 10_000, 20_000, 50_000)


STAGES = ("decode", "load", "step", "publish")  # tcnad_batch_stage_seconds{stage}


class WorkerMetrics:
    """The worker's counters, gauges and histograms in a private registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.records = Counter("tcnad_records", "Records consumed", registry=r)
        self.readings = Counter("tcnad_readings_applied", "Readings applied", registry=r)
        self.saved = Counter(
            "tcnad_readings_saved", "Applied readings whose state is saved", registry=r
        )
        self.replays = Counter("tcnad_readings_replayed", "Readings skipped as replays", registry=r)
        self.alerts = Counter("tcnad_alerts", "Alerts produced", registry=r)
        self.dead = Counter("tcnad_dead_letters", "Dead letters", ["reason"], registry=r)
        self.fenced = Counter("tcnad_fenced_saves", "Stream saves that were fenced", registry=r)
        self.regressions = Counter(
            "tcnad_state_regressions",
            "Fenced streams whose reloaded state was older than what this worker had saved",
            registry=r,
        )
        self.loaded = Counter("tcnad_states_loaded", "Stream states loaded", registry=r)
        self.batch_size = Histogram(
            "tcnad_batch_size", "Records per batch", buckets=_SIZE_BUCKETS, registry=r
        )
        self.batch_latency = Histogram(
            "tcnad_batch_seconds", "Batch wall time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.stage_seconds = Counter(
            "tcnad_batch_stage_seconds",
            "Time the worker spent applying batches, by stage: decode (and validation), "
            "load (states from Redis), step (the detector), publish (handing alerts and dead "
            "letters to the producer)",
            ["stage"],
            registry=r,
        )
        # One series per stage, bound once: exported from the start, no label lookup per batch.
        self.stage = {stage: self.stage_seconds.labels(stage) for stage in STAGES}
        self.load_latency = Histogram(
            "tcnad_state_load_seconds", "State load time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.save_latency = Histogram(
            "tcnad_state_save_seconds", "State save time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.fetch_age = Histogram(
            "tcnad_fetch_age_seconds",
            "Age (from its Kafka timestamp) of a batch's oldest record when the worker "
            "received the batch, before decoding",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.record_age = Histogram(
            "tcnad_record_age_seconds",
            "Age (from its Kafka timestamp) of a batch's oldest record once the batch's "
            "alerts are published",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "tcnad_gc_pause_seconds",
            "Pauses of the worker process's garbage collector, by generation",
            ["generation"],
            buckets=_PAUSE_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "tcnad_event_loop_lag_seconds",
            "How late a periodic 50 ms timer of the worker's event loop fires: time the loop "
            "was busy with other work when the timer was due",
            buckets=_PAUSE_BUCKETS,
            registry=r,
        )
        self.hot_streams = Gauge("tcnad_hot_streams", "Streams hot in the pool", registry=r)
        self.lag = Gauge("tcnad_consumer_lag", "Approximate records behind the log end", registry=r)
        self.last_batch = Gauge(
            "tcnad_last_batch_timestamp", "Unix time of the last finished batch", registry=r
        )
        self.dependencies = DependencyCollector()
        r.register(self.dependencies)

    def render(self) -> bytes:
        return generate_latest(self.registry)


DEPENDENCIES = ("redis", "kafka")  # what the worker's probes check (checks.py)


class DependencyCollector:
    """``tcnad_dependency_up{dependency}``: 1 while the worker's last probe of Redis or
    Kafka got an answer, 0 while it did not, read from ``Health.down`` at each scrape (no
    samples until ``watch`` is given the worker's ``Health``)."""

    def __init__(self) -> None:
        self.health: Health | None = None

    def watch(self, health: Health) -> None:
        self.health = health

    def collect(self) -> list[Metric]:
        family = GaugeMetricFamily(
            "tcnad_dependency_up",
            "1 while the dependency answers the worker's probes, 0 while it does not",
            labels=["dependency"],
        )
        if self.health is not None:
            down = self.health.down
            for name in DEPENDENCIES:
                family.add_metric([name], 0.0 if name in down else 1.0)
        return [family]


@dataclass
class Health:
    """What ``/health`` reports; updated by the worker, read by the HTTP thread."""

    started: float = field(default_factory=time.time)
    last_batch: float = 0.0
    assigned: list[int] = field(default_factory=list)
    failed: str = ""
    # Dependencies the probes (probes.py) found unreachable: name -> why. Replaced whole,
    # never mutated, so the HTTP thread reads one consistent mapping.
    down: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        down = self.down
        status = "failed" if self.failed else "unreachable" if down else "ok"
        problems = "; ".join(f"{name} unreachable: {why}" for name, why in down.items())
        body = {
            "status": status,
            "uptime_s": round(time.time() - self.started, 3),
            "last_batch_age_s": round(time.time() - self.last_batch, 3)
            if self.last_batch
            else None,
            "partitions": self.assigned,
            "unreachable": dict(down) or None,
            "error": self.failed or problems or None,
        }
        return (200 if status == "ok" else 503), body


class MetricsServer:
    """``/metrics`` and ``/health`` on ``host:port`` (port 0: any free port) in a thread."""

    def __init__(self, metrics: WorkerMetrics, health: Health, host: str, port: int) -> None:
        handler = _handler_class(metrics, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tcnad-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        logger.info("metrics and health on http://%s:%d", *self._server.server_address[:2])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(metrics: WorkerMetrics, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, CONTENT_TYPE_LATEST, metrics.render())
            elif self.path.startswith("/health"):
                code, body = health.snapshot()
                self._send(code, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain", b"not found: try /metrics or /health\n")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("http " + format, *args)

    return Handler
