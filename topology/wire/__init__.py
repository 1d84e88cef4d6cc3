"""What travels on the topics: readings in, alerts, score records and dead letters out.

``schemas`` holds the pydantic models and the one set of rules a reading must satisfy;
``decode`` applies them to a batch of raw Kafka records at the worker's speed and sends
what fails to the dead-letter topic with its reason.
"""

__all__: list[str] = []
