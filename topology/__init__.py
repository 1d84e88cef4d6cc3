"""The streaming service around the detector.

- ``worker``: the consumer-group member that scores readings and keeps state in Redis.
- ``wire``: the records on the topics, and the rules a reading must satisfy.
- ``devstack``: the embedded broker and Redis for demos and tests.
- ``cli``: the ``tcnad`` command.
- ``settings``: the one ``Settings`` object every command reads.
"""

__all__: list[str] = []
