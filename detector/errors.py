"""The project's exception hierarchy: one root, each subclass says whether a retry can help."""

from __future__ import annotations


class DetectorError(Exception):
    """Root of every error tcnad raises on purpose."""

    retriable: bool = False


class CheckpointError(DetectorError):
    """A model checkpoint is missing, corrupt or does not match the code that loads it."""


class SpecError(DetectorError, ValueError):
    """A TCNSpec or a policy holds values the detector cannot use."""
