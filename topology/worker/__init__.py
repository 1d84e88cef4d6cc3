"""One worker of the consumer group: consume readings, apply them, save state, commit.

``app`` builds the faust app from ``Settings``; ``consumer`` is the batch consumer over
faust's; ``pipeline`` decodes, loads, steps and publishes one batch; ``saver`` is the
write-behind save whose completion lets offsets be committed; ``hotcache`` keeps recent
stream states in the detector's slots; ``metrics`` serves ``/metrics`` and ``/health``.
"""

__all__: list[str] = []
