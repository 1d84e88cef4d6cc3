"""Per-stream detector state at rest: the codec and the stores (Redis, in-memory).

A stream's state is a small meta record (who wrote it, step, last applied Kafka offset and
timestamp, statistics) plus its layer ring buffers. ``load`` fetches the states of a batch
of streams pipelined (one round trip per MiB of requests); ``save`` writes only the ring rows
that changed since the last save, atomically per stream and fenced on the step the writer
started from.
"""

from tcnad.state.base import StoreStats
from tcnad.state.codec import FORMAT_VERSION, StateCodec, state_delta
from tcnad.state.errors import CorruptState, IncompatibleState, InvalidUpdate, StoreUnavailable
from tcnad.state.memory import MemoryCacheStore
from tcnad.state.redis_store import RedisCacheStore
from tcnad.state.types import CacheStore, LoadResult, SaveResult, StreamRecord, StreamUpdate

__all__ = [
    "FORMAT_VERSION",
    "CacheStore",
    "CorruptState",
    "IncompatibleState",
    "InvalidUpdate",
    "LoadResult",
    "MemoryCacheStore",
    "RedisCacheStore",
    "SaveResult",
    "StateCodec",
    "StoreStats",
    "StoreUnavailable",
    "StreamRecord",
    "StreamUpdate",
    "state_delta",
]
