"""Errors raised by the state stores; all derive from ``DetectorError``."""

from __future__ import annotations

from collections.abc import Sequence

from tcnad.detector.errors import DetectorError


def _names(streams: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(s) for s in streams[:limit])
    more = len(streams) - limit
    return shown + (f" and {more} more" if more > 0 else "")


class StoreUnavailable(DetectorError):
    """Redis did not answer or refused a command; retry the batch.

    Each stream named in ``streams`` holds either its previous or its new state, never a
    mix: a retried save of the same updates is recognised as already applied.
    """

    retriable = True

    def __init__(self, operation: str, streams: Sequence[str], cause: BaseException) -> None:
        self.operation = operation
        self.streams: tuple[str, ...] = tuple(streams)
        self.cause = cause
        super().__init__(
            f"state store unavailable during {operation} of {len(self.streams)} stream(s) "
            f"({_names(self.streams)}): {type(cause).__name__}: {cause}. Nothing is "
            "half-written; retry the batch once Redis answers again."
        )


class IncompatibleState(DetectorError):
    """A stored state was written by another model or format and cannot be used.

    Raised by ``load`` under ``on_incompatible="error"``. The stored bytes are untouched.
    """

    def __init__(self, stream: str, reason: str) -> None:
        self.stream = stream
        self.reason = reason
        super().__init__(
            f"stored state of stream {stream!r} is not usable by this worker: {reason}. "
            "Either run the worker with on_incompatible='reset' (such streams restart from "
            "a fresh state, counted as resets), delete the old states "
            "(CacheStore.delete or a new TCNAD_NAMESPACE), or deploy the model that "
            "wrote them."
        )


class CorruptState(IncompatibleState):
    """A stored state has the right header but bytes of the wrong size."""


class InvalidUpdate(DetectorError, ValueError):
    """A ``StreamUpdate`` does not match the store's layout (a caller bug, not retriable)."""
