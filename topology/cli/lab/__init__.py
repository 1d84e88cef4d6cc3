"""The lab's commands, which run the detector offline (no Kafka, no Redis): ``train``,
``score``, ``nab``, ``plot`` and ``bench``."""

__all__: list[str] = []
