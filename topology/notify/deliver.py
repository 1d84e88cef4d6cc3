"""Deliver one alert to its webhooks: POST, retry with backoff, drop redeliveries.

A webhook's answer decides what happens to a try:

- 2xx: delivered;
- 408, 429, 5xx, a refused or broken connection, a timeout: retried after
  ``Retry.delay`` (0.5 s, 1 s, 2 s, ... up to ``max_backoff_s``), at most
  ``Retry.attempts`` tries; after the last, ``DeliveryError`` (the caller stops without
  committing, so the alert is delivered again after a restart);
- any other 4xx: the webhook refuses this body for good; logged once, counted as
  ``rejected``, and not retried (a retry would be refused the same way).

``Dedupe`` remembers the ids of the last ``size`` alerts delivered, so a redelivered alert
(delivery from the workers is at-least-once, with the same id) is posted once.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tcnad.detector.errors import DetectorError
from tcnad.topology.notify.config import NotifyConfig, Webhook
from tcnad.topology.notify.payloads import render
from tcnad.topology.wire.schemas import Alert, Resolved

__all__ = [
    "Dedupe",
    "DeliveryError",
    "PostFailed",
    "Sender",
    "Stats",
    "Stopped",
    "http_post",
]

logger = logging.getLogger(__name__)

_RETRIABLE_4XX = (408, 429)


class DeliveryError(DetectorError):
    """A webhook failed every try for an alert."""


class Stopped(Exception):
    """Asked to stop while an alert was not yet delivered."""


class PostFailed(Exception):
    """One POST did not deliver. ``retriable``: whether another try may succeed."""

    def __init__(self, why: str, retriable: bool) -> None:
        super().__init__(why)
        self.retriable = retriable


def _post_blocking(webhook: Webhook, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "User-Agent": "tcnad-notify"}
    headers.update(dict(webhook.headers))
    request = urllib.request.Request(webhook.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=webhook.timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        code = exc.code
        retriable = code >= 500 or code in _RETRIABLE_4XX
        raise PostFailed(f"HTTP {code} {exc.reason}", retriable) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PostFailed(f"{type(exc).__name__}: {reason}", True) from None


async def http_post(webhook: Webhook, body: bytes) -> None:
    """POST ``body`` to ``webhook`` (in a thread: the event loop keeps running); raises
    ``PostFailed`` unless the answer is 2xx."""
    await asyncio.to_thread(_post_blocking, webhook, body)


class Dedupe:
    """The ids of the last ``size`` alerts delivered (0: remember none)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, alert_id: str) -> bool:
        return alert_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, alert_id: str) -> None:
        if self.size <= 0:
            return
        self._ids[alert_id] = None
        self._ids.move_to_end(alert_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


@dataclass
class Stats:
    """What a ``Sender`` did, for logs and tests."""

    delivered: int = 0  # alerts posted to every webhook they were routed to
    posts: int = 0  # successful POSTs (an alert routed to two webhooks makes two)
    retries: int = 0  # failed tries that were tried again
    rejected: int = 0  # POSTs refused for good (4xx)
    duplicates: int = 0  # alerts dropped because their id was already delivered
    unrouted: int = 0  # alerts no webhook wants
    invalid: int = 0  # records that were neither alerts nor resolved records
    resolved: int = 0  # resolved records among those delivered


Post = Callable[[Webhook, bytes], Awaitable[None]]


class Sender:
    """Routes each alert and delivers it to every webhook it is routed to, in order.

    ``stop``: set to give up waiting between retries (``Stopped`` is then raised, and the
    alert counts as not delivered)."""

    def __init__(
        self, config: NotifyConfig, post: Post = http_post, stop: asyncio.Event | None = None
    ) -> None:
        self.config = config
        self.dedupe = Dedupe(config.dedupe)
        self.stats = Stats()
        self._post = post
        self._stop = stop or asyncio.Event()

    async def deliver(self, alert: Alert | Resolved) -> bool:
        """Deliver ``alert`` (an alert or the resolved record of one); False when it was a
        duplicate or routed nowhere. Raises ``DeliveryError`` when a webhook failed every
        try."""
        key = alert.id if isinstance(alert, Alert) else f"resolved:{alert.id}"
        if key in self.dedupe:
            self.stats.duplicates += 1
            logger.debug("%s %s already delivered; dropped", alert.kind, alert.id)
            return False
        webhooks = self.config.routes(alert)
        if not webhooks:
            self.stats.unrouted += 1
            self.dedupe.add(key)
            return False
        for webhook in webhooks:
            await self._send(webhook, alert)
        self.dedupe.add(key)
        self.stats.delivered += 1
        if isinstance(alert, Resolved):
            self.stats.resolved += 1
        return True

    async def _send(self, webhook: Webhook, alert: Alert | Resolved) -> None:
        body = render(webhook.format, alert)
        retry = self.config.retry
        for attempt in range(1, retry.attempts + 1):
            try:
                await self._post(webhook, body)
            except PostFailed as exc:
                if not exc.retriable:
                    self.stats.rejected += 1
                    where, aid = webhook.where, alert.id
                    logger.error("webhook %s refused alert %s (%s); not retried", where, aid, exc)
                    return
                if attempt == retry.attempts:
                    raise DeliveryError(
                        f"webhook {webhook.where} failed {attempt} tries for alert {alert.id}; "
                        f"last: {exc}"
                    ) from None
                delay = retry.delay(attempt)
                self.stats.retries += 1
                logger.warning(
                    "webhook %s: try %d/%d for alert %s failed (%s); retrying in %.2g s",
                    webhook.where,
                    attempt,
                    retry.attempts,
                    alert.id,
                    exc,
                    delay,
                )
                await self._wait(delay)
            else:
                self.stats.posts += 1
                return

    async def _wait(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
        except asyncio.TimeoutError:
            return
        raise Stopped("stopped while waiting to retry")
