"""Alert delivery to webhooks (``tcnad notify``): routing by stream glob and minimum
severity, JSON / Alertmanager / Slack-compatible payloads, retries with backoff, dedupe by
alert id, and offsets committed only after delivery.

- ``config``: the webhooks, their routes and the retry policy (a TOML file or flags);
- ``payloads``: the body of each format;
- ``deliver``: one alert to its webhooks (POST, retry, dedupe);
- ``run``: the consumer-group loop over the alerts topic.
"""

from tcnad.topology.notify.config import (
    FORMATS,
    NotifyConfig,
    NotifyConfigError,
    Retry,
    Webhook,
    config_from_flags,
    load_config,
    parse_config,
)
from tcnad.topology.notify.deliver import Dedupe, DeliveryError, PostFailed, Sender, Stats
from tcnad.topology.notify.payloads import render
from tcnad.topology.notify.run import DEFAULT_GROUP, run_notify

__all__ = [
    "DEFAULT_GROUP",
    "FORMATS",
    "Dedupe",
    "DeliveryError",
    "NotifyConfig",
    "NotifyConfigError",
    "PostFailed",
    "Retry",
    "Sender",
    "Stats",
    "Webhook",
    "config_from_flags",
    "load_config",
    "parse_config",
    "render",
    "run_notify",
]
