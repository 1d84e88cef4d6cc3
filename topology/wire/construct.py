"""Readings built from fields already validated, without a second validation pass.

The worker decodes every record it applies; the fields were checked by the same rules the
``Reading`` model's validators apply (``tcnad.topology.wire.decode``), so ``build`` writes
pydantic's slots directly. It falls back to ``model_construct`` if pydantic's internals
ever differ (checked once at import)::

    >>> build("s", 1.0, (2.0,)) == Reading(stream="s", ts=1.0, value=2.0)
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from tcnad.topology.wire.schemas import Reading

__all__ = ["build"]

logger = logging.getLogger(__name__)

_FIELDS_SET = {"stream", "ts", "values"}  # shared: frozen models never add to it


def _slot_builder() -> Callable[[str, float, tuple[float, ...]], Reading]:
    base: Any = BaseModel
    new = object.__new__
    set_dict = base.__dict__["__dict__"].__set__
    set_fields_set = base.__pydantic_fields_set__.__set__
    set_extra = base.__pydantic_extra__.__set__
    set_private = base.__pydantic_private__.__set__

    def build(stream: str, ts: float, values: tuple[float, ...]) -> Reading:
        r = new(Reading)
        set_dict(r, {"stream": stream, "ts": ts, "values": values})
        set_fields_set(r, _FIELDS_SET)
        set_extra(r, None)
        set_private(r, None)
        return r

    return build


def _slow_reading(stream: str, ts: float, values: tuple[float, ...]) -> Reading:
    return Reading.model_construct(stream=stream, ts=ts, values=values)


def _pick_builder() -> Callable[[str, float, tuple[float, ...]], Reading]:
    try:
        fast = _slot_builder()
        probe = fast("probe", 1.0, (2.0,))
        ref = Reading(stream="probe", ts=1.0, values=(2.0,))
        if probe == ref and probe.model_dump() == ref.model_dump() and repr(probe) == repr(ref):
            return fast
    except (AttributeError, TypeError, KeyError) as exc:  # pragma: no cover - internals moved
        logger.warning("fast reading construction unavailable (%s); using model_construct", exc)
    return _slow_reading  # pragma: no cover


build = _pick_builder()
