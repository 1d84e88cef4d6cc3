"""Per-stream detector state at rest: the codec and the stores (Redis, in-memory)."""

__all__: list[str] = []
