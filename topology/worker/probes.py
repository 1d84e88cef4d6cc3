"""Periodic probes of a running worker's dependencies, shown by ``/health``.

Every ``PROBE_INTERVAL_S`` the worker PINGs Redis and asks a Kafka broker for cluster
metadata, each within ``PROBE_TIMEOUT_S``. A dependency that fails is entered in
``Health.down`` (``/health`` then answers 503 naming it and why) and leaves it at its next
answer; each change is logged once. The probes only report: batches that meet an outage
retry with backoff (``retry.py``) and stop the worker past their bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tcnad.topology.settings import Settings
from tcnad.topology.worker.metrics import Health
from tcnad.topology.worker.preflight import kafka_client_options, reason

logger = logging.getLogger(__name__)

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
