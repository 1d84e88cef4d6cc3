"""The embedded stack for demos and tests: a Kafka-protocol broker (tansu) and a Redis
started as subprocesses on free loopback ports (``stack``), the process supervision they
share (``processes``), the demo's fleet of synthetic streams (``fleet``) and its alerts
matched with the fleet's ground truth (``truth``).
"""

__all__: list[str] = []
