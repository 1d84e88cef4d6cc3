"""The worker's configuration: one frozen ``Settings`` read from ``TCNAD_*`` variables.

Built once at the entry point (``tcnad worker``) and passed down. Model hyperparameters live
with the weights (the checkpoint's ``TCNSpec``), not here.
"""

from __future__ import annotations

import re
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from tcnad.detector.state import DEFAULT_RING_DTYPE
from tcnad.topology.security import KafkaSecurity, RedisSecurity

LogLevel = Literal["crit", "error", "warn", "info", "debug"]
RingDtype = Literal["float32", "float16", "bfloat16", "float8_e5m2"]
GC_GEN1_THRESHOLD = 1000  # young collections between two passes over the middle generation
REDIS_SCHEMES = ("redis", "rediss", "unix")
_BOOTSTRAP_SERVER = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def check_redis_url(url: str) -> str:
    """``url`` if redis-py can use it as a server address, else ``ValueError`` saying why."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is no number or out of range raises ValueError
    except ValueError as exc:
        raise ValueError(
            f"not a usable URL ({exc}); expected e.g. redis://127.0.0.1:6379/0"
        ) from exc
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(
            "must be a redis://, rediss:// or unix:// URL, e.g. redis://127.0.0.1:6379/0"
        )
    if parts.scheme == "unix" and not parts.path:
        raise ValueError("a unix:// URL needs the socket's path, e.g. unix:///run/redis.sock")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"{parts.scheme}:// needs a host, e.g. {parts.scheme}://127.0.0.1:6379/0")
    return url


def check_kafka_bootstrap(servers: str) -> str:
    """``servers`` if it is ``host:port[,host:port...]``, else ``ValueError`` saying why."""
    hosts = [h.strip() for h in servers.split(",")]
    for host in hosts:
        m = _BOOTSTRAP_SERVER.match(host)
        if m is None or not 1 <= int(m.group(1)) <= 65535:
            raise ValueError(
                f"{host!r} is not host:port; expected host:port[,host:port...], e.g. 127.0.0.1:9092"
            )
    return ",".join(hosts)


class Settings(KafkaSecurity, RedisSecurity):
    """Every knob of a worker; each field reads ``TCNAD_<NAME>`` (case-insensitive).

    Kafka TLS and SASL and the Redis CA file come from ``KafkaSecurity`` and
    ``RedisSecurity`` (``tcnad.topology.security``)."""

    model_config = SettingsConfigDict(env_prefix="TCNAD_", frozen=True, extra="ignore")

    # Where things are.
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    readings_topic: str = "readings"
    alerts_topic: str = "alerts"
    dlq_topic: str = "readings-dlq"
    scores_topic: str = Field("", description="per-reading score records; empty = off")
    partitions: int = Field(8, ge=1, description="partitions of topics the worker declares")
    group_id: str = "tcnad"
    namespace: str = Field("tcnad", description="Redis key prefix")
    model: str = Field("", description="checkpoint path; empty = the shipped default")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    score_on_device: bool | None = Field(
        None,
        description="score readings in torch on the model's device (true) or in numpy on "
        "the host (false); unset: on the device when it is a GPU",
    )
    torch_threads: int = Field(
        1, ge=0, description="torch intra-op threads (0 = torch's default, one per core)"
    )
    gc_gen0_threshold: int = Field(
        10_000,
        ge=0,
        description="allocations between young-generation garbage collections, after the "
        "objects alive at start are frozen out of collection; the middle generation is "
        f"collected every {GC_GEN1_THRESHOLD} young ones (0 = Python's defaults)",
    )

    # Micro-batching and the consumer.
    batch_max_size: int = Field(20_000, ge=1, description="records per batch at most")
    batch_min_size: int = Field(
        1000,
        ge=1,
        description="cap on a batch's records while the worker keeps up; each batch that "
        "fills its cap doubles it (up to batch_max_size) and each that does not halves it "
        "(down to this), so a backlog is read in large batches and a worker that keeps up "
        "answers in small ones",
    )
    batch_max_wait_ms: int = Field(
        5, ge=0, description="how long a batch keeps collecting records after the first"
    )
    fetch_max_wait_ms: int = Field(
        50, ge=1, description="how long the broker may hold an empty fetch (long poll)"
    )
    fetch_max_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    save_interval_ms: int = Field(
        1000,
        ge=0,
        description="least time between the starts of two state saves (write-behind; "
        "applied readings are acked when the save covering them returns)",
    )
    max_unsaved_records: int = Field(
        100_000,
        ge=1,
        description="records applied but not yet saved before the consumer waits for a save",
    )
    commit_interval_s: float = Field(1.0, gt=0, description="offset commit period")
    session_timeout_s: float = Field(
        6.0, gt=0, description="consumer group session timeout (a join waits ~half of it)"
    )
    heartbeat_interval_s: float = Field(1.0, gt=0)

    # State.
    hot_cache_bytes: int = Field(
        512 * 1024 * 1024,
        ge=0,
        description="bytes of stream states kept hot (LRU); the pool gets as many slots",
    )
    ring_dtype: RingDtype = Field(
        DEFAULT_RING_DTYPE,
        description="how the ring buffers are held in the hot cache and stored in Redis: "
        "float8_e5m2 (the default) takes a quarter of the bytes of float32, float16 and "
        "bfloat16 half, all with scores within half a point of float32's (the step computes "
        "in float32 either way); a state stored with another one is converted when it is "
        "loaded",
    )
    state_ttl_s: float | None = Field(None, description="expire idle stream states; None = never")
    state_patches: bool = Field(
        True,
        description="a save sends only the stats that changed since the stored state, not "
        "all of them (with the shipped model a third fewer bytes per save in float32, almost "
        "half in float16, for a little more Redis time per save); false sends them whole",
    )
    store_retries: int = Field(6, ge=0, description="retries of a failed load/save")
    store_backoff_s: float = Field(0.2, gt=0, description="first retry delay, doubled each time")
    store_backoff_max_s: float = Field(5.0, gt=0)
    fenced_retries: int = Field(3, ge=0, description="re-applications after a fenced save")
    redis_cluster: bool = Field(
        False,
        description="TCNAD_REDIS_URL names a node of a Redis Cluster (any one; the others "
        "are discovered): each stream's state goes to the master of its slot",
    )
    redis_wait_replicas: int | None = Field(
        None,
        ge=0,
        description="replicas that must acknowledge a save's writes (WAIT) before its offsets "
        "are committed; fewer is a failed save, retried (unset: 1 with redis_cluster, else "
        "0; only with redis_cluster)",
    )
    redis_wait_timeout_ms: int = Field(
        1000, ge=1, description="how long a save's WAIT waits for the replicas"
    )

    # Alert policy (passed to the detector's AlertPolicy; unset = the detector's default).
    alert_warmup: int | None = Field(None, ge=0, description="readings before a stream alerts")
    alert_target_miss_rate: float | None = Field(
        None, gt=0, lt=1, description="long-run fraction of normal readings outside the band"
    )
    alert_cooldown: int | None = Field(
        None, ge=0, description="in-band readings that end an incident (one incident = one alert)"
    )
    alert_shift_patience: int | None = Field(
        None, ge=1, description="misses in a row after which a level shift becomes the new normal"
    )
    alert_calibrate_after: int | None = Field(
        None, ge=0, description="readings before the band calibration starts"
    )
    alert_score: float | None = Field(
        None, ge=0, le=1, description="least anomaly score that starts an incident (0 = any miss)"
    )
    alert_history_weight: float | None = Field(
        None,
        gt=0,
        le=1,
        description="least weight of a reading in a stream's surprise statistics (they "
        "remember about 1/weight readings); larger for streams with frequent anomalies",
    )

    # Operations.
    metrics_port: int = Field(
        9464, ge=0, le=65535, description="Prometheus /metrics and /health; 0 = any free port"
    )
    metrics_enabled: bool = True
    web_enabled: bool = Field(False, description="faust's own web server")
    web_port: int = Field(6066, ge=1, le=65535)
    log_level: LogLevel = "info"

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str) -> str:
        return check_redis_url(url)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _kafka_bootstrap(cls, servers: str) -> str:
        return check_kafka_bootstrap(servers)

    @model_validator(mode="after")
    def _batch_sizes(self) -> Self:
        # Left at its default, the floor follows a smaller batch_max_size (the consumer
        # caps it there); set explicitly above it, it is a mistake.
        if "batch_min_size" in self.model_fields_set and self.batch_min_size > self.batch_max_size:
            raise ValueError(
                f"batch_min_size ({self.batch_min_size}) must not exceed batch_max_size "
                f"({self.batch_max_size})"
            )
        return self

    @model_validator(mode="after")
    def _redis_cluster(self) -> Self:
        if self.redis_cluster and self.redis_url.startswith("unix:"):
            raise ValueError("redis_cluster needs a redis:// or rediss:// URL of a node")
        if not self.redis_cluster and self.redis_wait_replicas:
            raise ValueError(
                "redis_wait_replicas is supported with redis_cluster only (TCNAD_REDIS_CLUSTER=1)"
            )
        return self

    def wait_replicas(self) -> int:
        """Replicas a save waits for: ``redis_wait_replicas``, or 1 on a cluster, else 0."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_cluster else 0

    def alert_policy_overrides(self) -> dict[str, float | int]:
        """The alert-policy knobs set explicitly, keyed by their ``AlertPolicy`` names."""
        knobs = {
            "warmup": self.alert_warmup,
            "target_miss_rate": self.alert_target_miss_rate,
            "cooldown": self.alert_cooldown,
            "shift_patience": self.alert_shift_patience,
            "calibrate_after": self.alert_calibrate_after,
            "alert_score": self.alert_score,
            "history_weight": self.alert_history_weight,
        }
        return {k: v for k, v in knobs.items() if v is not None}
