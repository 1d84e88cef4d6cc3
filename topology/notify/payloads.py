"""The bodies ``tcnad notify`` POSTs, one per alert (or resolved record) and webhook format.

- ``json``: the record itself, exactly as on the alerts topic (docs/wire.md).
- ``alertmanager``: a one-element array in the shape of Alertmanager's
  ``POST /api/v2/alerts`` (``labels``, ``annotations``, ``startsAt``); label values are
  strings, ``alert_id`` makes each incident its own Alertmanager alert, and the label
  ``severity`` is ``critical`` from ``CRITICAL_SEVERITY`` band widths outside the band,
  else ``warning``. A resolved record has the same labels as its alert and ``endsAt``, the
  time of the reading that ended the incident, which resolves that Alertmanager alert.
- ``slack``: ``{"text": ...}``, one line of Slack mrkdwn, which Slack's incoming webhooks
  and the Slack-compatible ones (Mattermost, Rocket.Chat) accept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone

from tcnad.topology.wire.schemas import Alert, Resolved
from tcnad.topology.wire.schemas import number_text as _num
from tcnad.topology.wire.schemas import values_text as _vec

__all__ = [
    "ALERTNAME",
    "CRITICAL_SEVERITY",
    "alertmanager_payload",
    "json_payload",
    "render",
    "resolved_summary",
    "slack_payload",
    "summary",
]

ALERTNAME = "TcnadAnomaly"
CRITICAL_SEVERITY = 3.0


def _when(ts: float) -> str:
    """RFC 3339 UTC time of epoch seconds ``ts`` (the current time if it has none)."""
    try:
        dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        dt = datetime.now(tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _band(alert: Alert) -> str:
    pairs = zip(alert.lower, alert.upper, strict=False)
    return ", ".join(f"{_num(lo)}..{_num(hi)}" for lo, hi in pairs)


def _extra(alert: Alert) -> dict[str, str]:
    """Text fields of the alert beyond the documented core (e.g. a reason), as strings."""
    out = {}
    for name in ("reason", "direction"):
        value = getattr(alert, name, None)
        if isinstance(value, str) and value:
            out[name] = value
    return out


def summary(alert: Alert) -> str:
    """One plain line: stream, value, band, median, severity, score, time."""
    why = "".join(f" {k}={v}" for k, v in _extra(alert).items())
    return (
        f"{alert.stream}: value {_vec(alert.value)} outside [{_band(alert)}] "
        f"(median {_vec(alert.median)}), severity {_num(alert.severity)} band widths, "
        f"score {_num(alert.score)} at {_when(alert.ts)}{why}"
    )


def resolved_summary(done: Resolved) -> str:
    """One plain line: stream, how long the incident lasted, when it ended."""
    return (
        f"{done.stream}: back inside its band, incident resolved after {done.readings} "
        f"readings at {_when(done.ts)}"
    )


def json_payload(alert: Alert | Resolved) -> bytes:
    """The record (NaN written as null, as the worker writes it)."""
    return alert.to_bytes()


def _labels(alert: Alert | Resolved) -> dict[str, str]:
    """An Alertmanager alert's identity: the same for an alert and its resolved record."""
    level = "critical" if alert.severity >= CRITICAL_SEVERITY else "warning"
    return {
        "alertname": ALERTNAME,
        "stream": alert.stream,
        "severity": level,
        "alert_id": alert.id,
        "model_id": alert.model_id,
    }


def alertmanager_payload(alert: Alert | Resolved) -> bytes:
    """``[alert]`` as Alertmanager's API v2 takes it (a resolved one with ``endsAt``)."""
    labels = _labels(alert)
    if isinstance(alert, Resolved):
        notes = {"summary": resolved_summary(alert), "readings": str(alert.readings)}
        ended = [{"labels": labels, "annotations": notes, "endsAt": _when(alert.ts)}]
        return json.dumps(ended, ensure_ascii=False).encode()
    annotations = {
        "summary": summary(alert),
        "value": _vec(alert.value),
        "band": f"[{_band(alert)}]",
        "median": _vec(alert.median),
        "severity": _num(alert.severity),
        "score": _num(alert.score),
        "tail_prob": f"{alert.tail_prob:.3g}",
        **_extra(alert),
    }
    body = [{"labels": labels, "annotations": annotations, "startsAt": _when(alert.ts)}]
    return json.dumps(body, ensure_ascii=False).encode()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert | Resolved) -> bytes:
    """``{"text": ...}``: one line of mrkdwn with the stream in code style (``&``, ``<``
    and ``>`` escaped as Slack asks)."""
    if isinstance(alert, Resolved):
        rest = resolved_summary(alert)[len(alert.stream) + 1 :]
        text = f":white_check_mark: *tcnad resolved* `{alert.stream}`:{rest} (id `{alert.id}`)"
        return json.dumps({"text": _slack_escape(text)}, ensure_ascii=False).encode()
    rest = summary(alert)[len(alert.stream) + 1 :]
    text = f":rotating_light: *tcnad alert* `{alert.stream}`:{rest} (id `{alert.id}`)"
    return json.dumps({"text": _slack_escape(text)}, ensure_ascii=False).encode()


_RENDER: dict[str, Callable[[Alert | Resolved], bytes]] = {
    "json": json_payload,
    "alertmanager": alertmanager_payload,
    "slack": slack_payload,
}


def render(fmt: str, alert: Alert | Resolved) -> bytes:
    """The body for a webhook of format ``fmt`` (one of ``config.FORMATS``)."""
    return _RENDER[fmt](alert)
