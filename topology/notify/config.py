"""Where ``tcnad notify`` sends alerts: webhooks, each with a payload format, stream globs
and a minimum severity, read from a TOML file or built from flags.

A configuration file (every key but ``url`` optional)::

    dedupe = 100000              # alert ids remembered to drop redeliveries

    [retry]
    attempts = 8                 # tries per webhook and alert before giving up
    backoff_s = 0.5              # first wait; doubles after each failed try
    max_backoff_s = 30.0

    [[webhook]]
    name = "oncall"
    url = "http://alertmanager:9093/api/v2/alerts"
    format = "alertmanager"      # json (default), alertmanager or slack
    streams = ["pump-*"]         # shell-style globs on the stream id; default ["*"]
    min_severity = 1.5           # band widths outside the band; default 0 (every alert)
    timeout_s = 5.0
    headers = { Authorization = "Bearer ..." }

Anything else (an unknown key, a wrong type, a bad URL) is a ``NotifyConfigError`` whose
text is one line naming the file, the entry and what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomllib

from tcnad.detector.errors import DetectorError
from tcnad.topology.wire.schemas import Alert, Resolved

__all__ = [
    "FORMATS",
    "NotifyConfig",
    "NotifyConfigError",
    "Retry",
    "Webhook",
    "config_from_flags",
    "load_config",
    "parse_config",
]

FORMATS = ("json", "alertmanager", "slack")
_WEBHOOK_KEYS = {"name", "url", "format", "streams", "min_severity", "timeout_s", "headers"}
_RETRY_KEYS = {"attempts", "backoff_s", "max_backoff_s"}
_TOP_KEYS = {"webhook", "retry", "dedupe"}


class NotifyConfigError(DetectorError, ValueError):
    """The notify configuration is not usable; ``str()`` is one line saying where and why."""


@dataclass(frozen=True)
class Webhook:
    """One destination: alerts of a stream matching one of ``streams`` (globs) with a
    severity of at least ``min_severity`` are POSTed to ``url`` as ``format``."""

    name: str
    url: str
    format: str = "json"
    streams: tuple[str, ...] = ("*",)
    min_severity: float = 0.0
    timeout_s: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()

    def wants(self, alert: Alert | Resolved) -> bool:
        """True when ``alert`` is routed here (a NaN severity passes only a minimum of 0). A
        resolved record carries its alert's severity and stream, so it goes where its alert
        went."""
        if self.min_severity > 0 and not alert.severity >= self.min_severity:
            return False
        return any(fnmatchcase(alert.stream, pattern) for pattern in self.streams)

    @property
    def where(self) -> str:
        """The webhook as logs name it: its name and its URL without credentials or query."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{self.name} ({parts.scheme}://{host}{port}{parts.path})"


@dataclass(frozen=True)
class Retry:
    """Tries per webhook and alert, and the waits between them (exponential backoff)."""

    attempts: int = 8
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def delay(self, failed: int) -> float:
        """Seconds to wait after the ``failed``-th failed try (1-based)."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (failed - 1)))


@dataclass(frozen=True)
class NotifyConfig:
    webhooks: tuple[Webhook, ...]
    retry: Retry = field(default_factory=Retry)
    dedupe: int = 100_000

    def routes(self, alert: Alert | Resolved) -> list[Webhook]:
        """The webhooks ``alert`` goes to, in configuration order."""
        return [w for w in self.webhooks if w.wants(alert)]


def _fail(where: str, message: str) -> NotifyConfigError:
    return NotifyConfigError(f"{where}: {message}")


def _unknown(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise _fail(where, f"unknown key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _number(where: str, key: str, value: Any, *, low: float, integer: bool = False) -> Any:
    ok_type = type(value) is int if integer else type(value) in (int, float)
    if not ok_type or not math.isfinite(value) or value < low:
        kind = "an integer" if integer else "a number"
        raise _fail(where, f"{key} = {value!r} must be {kind} >= {low:g}")
    return value if integer else float(value)


def check_url(where: str, url: Any) -> str:
    """``url`` if it is an http(s) URL with a host, else a ``NotifyConfigError``."""
    if type(url) is not str:
        raise _fail(where, f"url must be a string, got {url!r}")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise _fail(where, f"url {url!r} is not usable ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(where, f"url {url!r} must be http:// or https:// with a host")
    return url


def _streams(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(g, str) and g for g in value):
        raise _fail(where, f"streams = {value!r} must be a non-empty list of glob strings")
    return tuple(value)


def _webhook(where: str, table: Any, index: int) -> Webhook:
    if not isinstance(table, dict):
        raise _fail(where, "each [[webhook]] must be a table")
    _unknown(where, table, _WEBHOOK_KEYS)
    if "url" not in table:
        raise _fail(where, "url is missing")
    url = check_url(where, table["url"])
    name = table.get("name", f"webhook-{index}")
    if not isinstance(name, str) or not name:
        raise _fail(where, f"name = {name!r} must be a non-empty string")
    fmt = table.get("format", "json")
    if fmt not in FORMATS:
        raise _fail(where, f"format = {fmt!r} is not one of {', '.join(FORMATS)}")
    headers = table.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise _fail(where, "headers must be a table of strings")
    return Webhook(
        name=name,
        url=url,
        format=fmt,
        streams=_streams(where, table.get("streams", ["*"])),
        min_severity=_number(where, "min_severity", table.get("min_severity", 0.0), low=0),
        timeout_s=_number(where, "timeout_s", table.get("timeout_s", 5.0), low=0.001),
        headers=tuple(sorted(headers.items())),
    )


def parse_config(data: Mapping[str, Any], source: str = "config") -> NotifyConfig:
    """A ``NotifyConfig`` from the decoded TOML ``data``; ``source`` names it in errors."""
    _unknown(source, data, _TOP_KEYS)
    hooks = data.get("webhook", [])
    if not isinstance(hooks, list) or not hooks:
        raise _fail(source, "no [[webhook]] entry: nothing to deliver to")
    webhooks = []
    for i, table in enumerate(hooks, 1):
        name = table.get("name") if isinstance(table, dict) else None
        where = f"{source}: webhook {i}" + (f" ({name})" if isinstance(name, str) else "")
        webhooks.append(_webhook(where, table, i))
    names = [w.name for w in webhooks]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise _fail(source, f"two webhooks are named {dup!r}")
    retry_table = data.get("retry", {})
    if not isinstance(retry_table, dict):
        raise _fail(source, "[retry] must be a table")
    where = f"{source}: [retry]"
    _unknown(where, retry_table, _RETRY_KEYS)
    retry = Retry(
        attempts=_number(where, "attempts", retry_table.get("attempts", 8), low=1, integer=True),
        backoff_s=_number(where, "backoff_s", retry_table.get("backoff_s", 0.5), low=0),
        max_backoff_s=_number(
            where, "max_backoff_s", retry_table.get("max_backoff_s", 30.0), low=0
        ),
    )
    dedupe = _number(source, "dedupe", data.get("dedupe", 100_000), low=0, integer=True)
    return NotifyConfig(webhooks=tuple(webhooks), retry=retry, dedupe=dedupe)


def load_config(path: str | Path) -> NotifyConfig:
    """Read and check the TOML file at ``path``."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise NotifyConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise NotifyConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_config(data, str(path))


def config_from_flags(
    urls: Mapping[str, Sequence[str]],
    streams: Sequence[str] = (),
    min_severity: float = 0.0,
    retry: Retry | None = None,
    dedupe: int = 100_000,
) -> NotifyConfig:
    """A configuration from command-line webhooks: ``urls`` maps a format to its URLs;
    every webhook gets the same ``streams`` globs (default all) and ``min_severity``."""
    table: dict[str, Any] = {"webhook": [], "dedupe": dedupe}
    for fmt, group in urls.items():
        for url in group:
            entry: dict[str, Any] = {"url": url, "format": fmt, "min_severity": min_severity}
            entry["name"] = f"{fmt}-{len(table['webhook']) + 1}"
            if streams:
                entry["streams"] = list(streams)
            table["webhook"].append(entry)
    config = parse_config(table, "flags")
    return NotifyConfig(config.webhooks, retry or Retry(), config.dedupe)
