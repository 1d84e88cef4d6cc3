"""Checks of a worker's dependencies, Redis and Kafka: before it joins the group, and while
it runs.

At start, ``tcnad worker`` calls ``check_reachable`` before it loads the model (Redis
answers PING, a Kafka bootstrap server answers a metadata request) and ``check_store`` once
the model is loaded (Redis accepts the state store's save script). Each returns None, or
the one line to print: what is unreachable, at which (password-redacted) address, why, and
which setting to check.

While it runs, every ``PROBE_INTERVAL_S`` the worker PINGs Redis and asks a Kafka broker
for cluster metadata, each within ``PROBE_TIMEOUT_S``. A dependency that fails is entered
in ``Health.down`` (``/health`` then answers 503 naming it and why) and leaves it at its
next answer; each change is logged once. The probes only report: batches that meet an
outage retry with backoff (``retry_store`` in batch.py) and stop the worker past their
bound. Meanwhile the Kafka client logs a failed reconnect several times a second;
``throttle_client_logs`` lets each kind of such message through once per ``THROTTLE_S``,
with the count of those held back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from tcnad.topology.security import redact_url
from tcnad.topology.settings import Settings
from tcnad.topology.worker.metrics import Health

if TYPE_CHECKING:
    from tcnad.detector.state import StateLayout

UNREACHABLE = 3  # exit code of a worker whose Redis or Kafka does not answer at start
TIMEOUT_S = 5.0  # per dependency; connection refused or an unknown host fails at once
REDIS_HINT = "check TCNAD_REDIS_URL / --redis-url"
KAFKA_HINT = "check TCNAD_KAFKA_BOOTSTRAP / --bootstrap"

T = TypeVar("T")
THROTTLE_S = 30.0  # a repeated client error is logged at most once per this many seconds
# The Kafka client's loggers (a logger's filters do not apply to its children's records).
CLIENT_LOGGERS = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.cluster",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.consumer.fetcher",
    "aiokafka.producer.sender",
)


class RepeatFilter(logging.Filter):
    """Lets a record through once per ``window_s`` for each logger, level and message
    template; the next one let through says how many were held back meanwhile."""

    def __init__(self, window_s: float = THROTTLE_S, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s, self._clock = window_s, clock
        self._seen: dict[tuple[str, int, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.msg)
        now = self._clock()
        last, held = self._seen.get(key, (-float("inf"), 0))
        if now - last < self.window_s:
            self._seen[key] = (last, held + 1)
            return False
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this held back in {now - last:.0f} s)"
        return True


def throttle_client_logs(window_s: float = THROTTLE_S) -> RepeatFilter:
    """Throttle the Kafka client's repeated messages (``CLIENT_LOGGERS``); returns the
    filter, installed on each of those loggers."""
    flt = RepeatFilter(window_s)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(flt)
    return flt


logger = logging.getLogger(__name__)


def check_reachable(settings: Settings, timeout_s: float = TIMEOUT_S) -> str | None:
    """None if Redis answers PING and a Kafka bootstrap server answers metadata, else the
    line saying which does not (both, if neither does)."""

    async def both() -> list[str | None]:
        redis, kafka = redis_problem(settings, timeout_s), kafka_problem(settings, timeout_s)
        return list(await asyncio.gather(redis, kafka))

    problems = [p for p in _run_quietly(both) if p]
    return "; ".join(problems) or None


def check_store(
    settings: Settings, layout: StateLayout, timeout_s: float = TIMEOUT_S
) -> str | None:
    """None if Redis answers PING and loads the save script of ``layout`` (with
    ``redis_cluster``: the cluster's slot map is read and every master loads it), else the
    line."""

    async def probe() -> str | None:
        from tcnad.topology.worker.app import create_store

        store = create_store(settings, layout, timeout_s)
        try:
            await asyncio.wait_for(store.check(), timeout_s)
        except Exception as exc:  # any failure is reported as one line
            return redis_line(settings.redis_url, exc, timeout_s)
        finally:
            await store.close()
        return None

    return _run_quietly(probe)


async def redis_problem(settings: Settings, timeout_s: float) -> str | None:
    """None if Redis at ``settings.redis_url`` answers PING within ``timeout_s``."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    try:
        client = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            **settings.redis_client_kwargs(),
        )
    except (ValueError, TypeError) as exc:  # an option in the URL redis-py rejects
        return f"Redis URL {redact_url(settings.redis_url)} is not usable ({exc}); {REDIS_HINT}"
    try:
        await asyncio.wait_for(client.ping(), timeout_s)
    except Exception as exc:  # any failure is reported as one line
        return redis_line(settings.redis_url, exc, timeout_s)
    finally:
        await client.aclose()
    return None


def redis_line(url: str, exc: BaseException, timeout_s: float) -> str:
    """The line for a Redis that failed a check with ``exc`` (a ``StoreUnavailable`` is
    described by its cause)."""
    from redis.exceptions import AuthenticationError, AuthorizationError
    from redis.exceptions import ConnectionError as RedisConnectionError

    from tcnad.state.errors import StoreUnavailable

    if isinstance(exc, StoreUnavailable):
        exc = exc.cause
    where = f"Redis at {redact_url(url)}"
    why = reason(exc, timeout_s)
    if isinstance(exc, (AuthenticationError, AuthorizationError)) or not (
        _timed_out(exc) or isinstance(exc, (RedisConnectionError, OSError))
    ):
        return f"{where} refused the worker ({why}); {REDIS_HINT}"
    return f"{where} is unreachable ({why}); {REDIS_HINT}"


def kafka_servers(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port[,host:port]`` as ``(host, port)`` pairs (``[v6]:port`` without brackets)."""
    out = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        out.append((host.strip("[]"), int(port)))
    return out


def kafka_client_options(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """Options of the Kafka clients these checks and the probes make (the worker's own
    consumer and producer are faust's), TLS and SASL included."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "request_timeout_ms": max(1, int(timeout_s * 1000)),
        "client_id": f"{settings.group_id}-probe",
        **settings.kafka_client_options(),
    }


async def kafka_problem(settings: Settings, timeout_s: float) -> str | None:
    """None if a Kafka bootstrap server accepts a connection and answers a metadata request
    within ``timeout_s``. A plain TCP connect comes first: it says why a server is
    unreachable (refused, unknown host, timeout), which the Kafka client only logs."""
    where = f"Kafka at {settings.kafka_bootstrap}"
    refused: list[str] = []
    for host, port in kafka_servers(settings.kafka_bootstrap):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        except Exception as exc:  # any failure is reported as one line
            refused.append(f"{host}:{port}: {reason(exc, timeout_s)}")
            continue
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        break
    else:
        why = refused[0].split(": ", 1)[1] if len(refused) == 1 else ", ".join(refused)
        return f"{where} is unreachable ({why}); {KAFKA_HINT}"
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(**kafka_client_options(settings, timeout_s))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
    except Exception as exc:  # any failure is reported as one line
        why = reason(exc, timeout_s)
        return f"{where} answers no Kafka metadata request ({why}); {KAFKA_HINT}"
    finally:
        await client.close()
    return None


def reason(exc: BaseException, timeout_s: float) -> str:
    """Why a check failed, in a few words: the OS's reason for a socket error (``Connection
    refused``, ``Name or service not known``), ``no answer within N s`` for a timeout, else
    the exception's own message."""
    if _timed_out(exc):
        return f"no answer within {timeout_s:g} s"
    for link in _chain(exc):
        if isinstance(link, OSError) and isinstance(link.errno, int) and link.errno > 0:
            return os.strerror(link.errno)  # asyncio's own text repeats the address
        if isinstance(link, OSError) and link.strerror:
            return str(link.strerror)  # e.g. a resolver's "Name or service not known"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _timed_out(exc: BaseException) -> bool:
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, (asyncio.TimeoutError, TimeoutError, RedisTimeoutError))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _run_quietly(check: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``check`` in a fresh event loop with logging off: the clients' own error logs
    (aiokafka logs each refused connection) would add lines to the one a check prints."""
    logging.disable(logging.CRITICAL)
    try:
        return asyncio.run(check())
    finally:
        logging.disable(logging.NOTSET)


PROBE_INTERVAL_S = 3.0
PROBE_TIMEOUT_S = 2.0

Check = Callable[[], Awaitable[object]]


class DependencyProbe:
    """Runs ``checks`` (name -> call that raises when the dependency is down) every
    ``interval_s`` and keeps ``health.down`` to the names that failed, with why."""

    def __init__(
        self,
        health: Health,
        checks: Mapping[str, Check],
        *,
        interval_s: float = PROBE_INTERVAL_S,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.health = health
        self.checks = dict(checks)
        self.interval_s = interval_s
        self.timeout_s = timeout_s

    async def probe_once(self) -> dict[str, str]:
        """Run every check once; returns (and publishes in ``health.down``) what is down."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        down = {n: why for n, why in zip(names, results, strict=True) if why is not None}
        before = self.health.down
        for name, why in down.items():
            if name not in before:
                logger.warning("%s unreachable: %s", name, why)
        for name in before:
            if name not in down:
                logger.info("%s reachable again", name)
        self.health.down = down  # one assignment: the HTTP thread sees the old or the new
        return down

    async def run(self) -> None:
        """Probe until cancelled."""
        while True:
            await self.probe_once()
            await asyncio.sleep(self.interval_s)

    async def _run(self, check: Check) -> str | None:
        try:
            await asyncio.wait_for(check(), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure means: not usable now
            return reason(exc, self.timeout_s)
        return None


class KafkaMetadataCheck:
    """Asks a broker for cluster metadata over one long-lived client (connected on first
    use, reconnecting to whichever broker answers)."""

    def __init__(self, settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.options = kafka_client_options(settings, timeout_s)
        self._client: Any = None
        self._bootstrapped = False

    async def __call__(self) -> None:
        if self._client is None:
            from aiokafka.client import AIOKafkaClient

            self._client = AIOKafkaClient(**self.options)
        if not self._bootstrapped:
            await self._client.bootstrap()  # raises while no bootstrap server answers
            self._bootstrapped = True
            return
        await self._client.fetch_all_metadata()

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None
            self._bootstrapped = False


def redis_ping(store: object) -> Check | None:
    """PING over the store's own Redis client; None for a store without one (tests' fakes)."""
    client = getattr(store, "client", None)
    ping = getattr(client, "ping", None)
    return ping if callable(ping) else None


async def watch_dependencies(health: Health, settings: Settings, store: object) -> None:
    """Until cancelled: probe Redis (through ``store``) and Kafka into ``health.down``."""
    kafka = KafkaMetadataCheck(settings)
    checks: dict[str, Check] = {"kafka": kafka}
    ping = redis_ping(store)
    if ping is not None:
        checks["redis"] = ping
    try:
        await DependencyProbe(health, checks).run()
    finally:
        await kafka.close()
