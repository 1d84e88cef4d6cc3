"""A Python client for tcnad: publish readings, read alerts, score series offline.

- ``Publisher`` / ``SyncPublisher``: readings checked with the worker's wire rules and
  keyed by stream id (murmur2, as the worker's producers partition);
- ``alerts`` (async iterator) / ``iter_alerts`` (generator): the alerts topic;
- ``OfflineDetector``: ``score_one(stream, ts, value)`` over the worker's ``Detector``,
  without Kafka or Redis.
"""

from tcnad.topology.client.kafka import Publisher, SyncPublisher, alerts, iter_alerts
from tcnad.topology.client.offline import OfflineDetector, StreamScore

__all__ = ["OfflineDetector", "Publisher", "StreamScore", "SyncPublisher", "alerts", "iter_alerts"]
