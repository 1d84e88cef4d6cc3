"""``create_app(settings)``: the faust app of a worker, built on demand (no import-time app).

The app subscribes to the readings topic through faust's conductor, but its records never
take faust's per-event path: ``BatchConsumer`` hands whole fetches to ``WorkerRuntime``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faust

from tcnad.detector.engine import StreamDetector
from tcnad.detector.state import StateLayout
from tcnad.state.types import CacheStore
from tcnad.topology.kafka_io import ensure_topics
from tcnad.topology.security import redact_url
from tcnad.topology.settings import Settings
from tcnad.topology.worker.batch import PipelineConfig
from tcnad.topology.worker.checks import watch_dependencies
from tcnad.topology.worker.consumer import BatchConsumer, tuned_transport
from tcnad.topology.worker.hotcache import HotCache
from tcnad.topology.worker.kafka_client import bounded_by_stop
from tcnad.topology.worker.metrics import Health, MetricsServer, WorkerMetrics
from tcnad.topology.worker.pipeline import BatchPipeline
from tcnad.topology.worker.runtime import FaustPublisher, WorkerRuntime, watch_loop_lag

if TYPE_CHECKING:
    from tcnad.state.redis_store import RedisCacheStore

logger = logging.getLogger(__name__)


class WorkerApp(faust.App):
    """A faust app whose consumer is a ``BatchConsumer`` feeding ``runtime``."""

    def __init__(self, settings: Settings, *, detector: StreamDetector, store: CacheStore) -> None:
        self.settings = settings
        self.transport_cls = tuned_transport(
            {
                "fetch_max_wait_ms": settings.fetch_max_wait_ms,
                "fetch_max_bytes": settings.fetch_max_bytes,
                "batch_max_wait_ms": settings.batch_max_wait_ms,
                "batch_min_size": settings.batch_min_size,
                "save_interval_ms": settings.save_interval_ms,
                "max_unsaved_records": settings.max_unsaved_records,
            }
        )
        super().__init__(settings.group_id, **faust_options(settings))
        self.metrics = WorkerMetrics()
        self.health = Health()
        self.metrics.dependencies.watch(self.health)
        hot = HotCache(detector.capacity, _bytes_per_stream(detector), settings.hot_cache_bytes)
        pipeline = BatchPipeline(
            detector, store, FaustPublisher(self), hot, pipeline_config(settings)
        )
        self.runtime = WorkerRuntime(pipeline, self.metrics, self.health)
        self.store = store
        self.metrics_server: MetricsServer | None = None
        readings = self.topic(settings.readings_topic, key_serializer="raw", value_serializer="raw")
        self.topics.add(readings)

    def _new_transport(self) -> Any:
        return self.transport_cls(self.conf.broker_consumer, self)

    async def on_first_start(self) -> None:
        await super().on_first_start()
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            {
                t: s.partitions
                for t in (s.readings_topic, s.alerts_topic, s.dlq_topic, s.scores_topic)
            },
            security=s,
        )
        consumer = self.consumer
        assert isinstance(consumer, BatchConsumer)
        consumer.batch_handler = self.runtime
        consumer.broker_reachable = lambda: "kafka" not in self.health.down
        self.add_future(watch_loop_lag(self.metrics))  # cancelled when the app stops
        self.add_future(watch_dependencies(self.health, s, self.store))  # /health: 503 if down
        if s.metrics_enabled and self.metrics_server is None:
            self.metrics_server = MetricsServer(
                self.metrics, self.health, "0.0.0.0", s.metrics_port
            )
            self.metrics_server.start()

    async def _producer_flush(self, logger: Any) -> None:
        """faust's flush of the producer on stop, bounded like the stop's commits
        (``BatchConsumer.stop_time_left``): while the broker is down the producer retries its
        messages for ``producer_request_timeout`` (20 minutes). A message it did not deliver
        belongs to a reading whose state was not saved: that reading is applied again."""
        if await bounded_by_stop(super()._producer_flush(logger), self) is None:
            logger.warning(
                "stopping: producer not flushed (broker unreachable?); a message it did not "
                "deliver belongs to a reading whose state was not saved: it is applied again"
            )

    async def on_stop(self) -> None:
        await super().on_stop()
        await self.store.close()
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None

    @property
    def fatal(self) -> BaseException | None:
        consumer = self._consumer
        return consumer.fatal if isinstance(consumer, BatchConsumer) else None


def faust_datadir(group_id: str) -> Path:
    """faust's data directory for a worker of ``group_id`` (it holds no tables; faust wants
    one). Tools that start workers of throwaway groups remove it afterwards."""
    return Path(tempfile.gettempdir()) / f"tcnad-faust-{group_id}"


def faust_options(s: Settings) -> dict[str, Any]:
    """faust settings derived from ours (timeouts short enough for a quick group join)."""
    return {
        "broker": [f"kafka://{h.strip()}" for h in s.kafka_bootstrap.split(",") if h.strip()],
        # TLS and SASL: faust's consumer and producer turn these into the same aiokafka
        # options as Settings.kafka_client_options() (None = PLAINTEXT).
        "broker_credentials": s.faust_broker_credentials(),
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": s.web_enabled,
        "web_port": s.web_port,
        "broker_session_timeout": s.session_timeout_s,
        "broker_heartbeat_interval": s.heartbeat_interval_s,
        "broker_rebalance_timeout": max(2 * s.session_timeout_s, 10.0),
        "broker_request_timeout": max(4 * s.session_timeout_s, 40.0),
        "broker_commit_interval": s.commit_interval_s,
        "broker_max_poll_records": s.batch_max_size,
        "consumer_max_fetch_size": s.fetch_max_bytes,
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": s.partitions,
        "topic_replication_factor": 1,
        "topic_disable_leader": True,
        # No tables: with standby replicas 0 faust uses aiokafka's round-robin assignor;
        # faust's own (sticky, table-aware) assignor left a joining worker idle.
        "table_standby_replicas": 0,
        "datadir": str(faust_datadir(s.group_id)),
    }


def pipeline_config(s: Settings) -> PipelineConfig:
    return PipelineConfig(
        alerts_topic=s.alerts_topic,
        dlq_topic=s.dlq_topic,
        scores_topic=s.scores_topic,
        store_retries=s.store_retries,
        store_backoff_s=s.store_backoff_s,
        store_backoff_max_s=s.store_backoff_max_s,
        fenced_retries=s.fenced_retries,
    )


def _bytes_per_stream(detector: StreamDetector) -> int:
    return _state_bytes(detector.layout)


def _state_bytes(layout: StateLayout) -> int:
    """Bytes of one hot stream's state: its rings and its float64 stats."""
    return layout.ring_bytes + 8 * layout.stats_size


def create_app(
    settings: Settings,
    *,
    detector: StreamDetector | None = None,
    store: CacheStore | None = None,
) -> WorkerApp:
    """The worker app: loads the model and connects the store unless given."""
    logger.info(
        "kafka=%s (%s) redis=%s%s",
        settings.kafka_bootstrap,
        settings.kafka_security_summary(),
        redact_url(settings.redis_url),
        f" (ca={settings.redis_ca_file})" if settings.redis_ca_file else "",
    )
    if detector is None:
        detector = load_detector(settings)
    if store is None:
        store = create_store(settings, detector.layout)
    return WorkerApp(settings, detector=detector, store=store)


def create_store(
    settings: Settings, layout: StateLayout, timeout_s: float | None = None
) -> RedisCacheStore:
    """The worker's ``RedisCacheStore``: URL (password, ACL user, rediss://) and CA file;
    with ``redis_cluster`` a ``RedisClusterCacheStore`` whose saves wait for replicas.
    ``timeout_s``: its socket and connect timeouts (None: the store's defaults)."""
    from tcnad.state.redis_store import RedisCacheStore

    common: dict[str, Any] = {
        "namespace": settings.namespace,
        "ttl_s": settings.state_ttl_s,
        "client_kwargs": settings.redis_client_kwargs(),
        "stats_patches": settings.state_patches,
    }
    if timeout_s is not None:
        common.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    if settings.redis_cluster:
        from tcnad.state.cluster_store import RedisClusterCacheStore

        return RedisClusterCacheStore(
            settings.redis_url,
            layout,
            wait_replicas=settings.wait_replicas(),
            wait_timeout_ms=settings.redis_wait_timeout_ms,
            **common,
        )
    return RedisCacheStore(settings.redis_url, layout, **common)


def load_detector(settings: Settings) -> StreamDetector:
    """The ``Detector`` of ``settings.model`` (empty: the shipped default), with as many pool
    slots as ``hot_cache_bytes`` holds states of its layout (at least one)."""
    from tcnad.detector.checkpoint import load_checkpoint
    from tcnad.detector.engine import Detector, compute_model_id, detector_layout
    from tcnad.detector.scoring import AlertPolicy

    if settings.torch_threads > 0:
        import torch

        torch.set_num_threads(settings.torch_threads)
    policy = AlertPolicy(**settings.alert_policy_overrides())  # type: ignore[arg-type]
    device = None if settings.device == "auto" else settings.device
    spec, weights, meta = load_checkpoint(settings.model or None)
    layout = detector_layout(spec, compute_model_id(spec, weights), settings.ring_dtype)
    slots = max(1, settings.hot_cache_bytes // _state_bytes(layout))
    det = Detector(
        spec, weights, policy, device, slots, meta, settings.ring_dtype, settings.score_on_device
    )
    logger.info(
        "model=%s device=%s scoring=%s capacity=%d rings=%s",
        det.model_id,
        det.device,
        det.device.type if det.score_on_device else "host",
        det.capacity,
        det.layout.ring_dtype,
    )
    return det
