"""The typed layout of a stream's ``stats`` vector: named, versioned slices of named fields.

Each part of the detector declares its state once, as a ``Slice`` of ``Field`` s (a name, a
size per reading's values or quantiles, and the value of a stream never seen). A
``StatsLayout`` lays a list of slices end to end and computes every offset, the fresh
state and the layout's key; nothing else indexes the vector by number. A layout of a list
of slices it knows (``older``) can be migrated: slices present in both at the same version
keep their values, new or changed ones start fresh, so adding a part resets only that
part. Example, with two made-up slices::

    >>> a = Slice("alpha", 1, (Field("count"), Field("low", per="input", fresh=NAN)))
    >>> b = Slice("beta", 1, (Field("bins", count=3),))
    >>> lay = StatsLayout((a, b), n_inputs=2)
    >>> lay.size, lay.at("beta"), lay.field("alpha", "low")
    (6, slice(3, 6, None), slice(1, 3, None))
    >>> lay.key
    'alpha@1,beta@1'
    >>> old = StatsLayout((a,), n_inputs=2)
    >>> lay.migrate(np.array([5.0, 1.0, 2.0]), old).tolist()
    [5.0, 1.0, 2.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tcnad.detector.arrays import F64

NAN = float("nan")
Per = Literal["one", "input", "quantile"]  # a field's size: count, count * N, count * N * Q


@dataclass(frozen=True)
class Field:
    """``count`` floats (times the reading's values ``N`` for ``per="input"``, times ``N * Q``
    for ``per="quantile"``), each ``fresh`` in a stream never seen."""

    name: str
    count: int = 1
    per: Per = "one"
    fresh: float = 0.0

    def size(self, n_inputs: int, n_quantiles: int = 0) -> int:
        mult = {"one": 1, "input": n_inputs, "quantile": n_inputs * n_quantiles}[self.per]
        return self.count * mult


@dataclass(frozen=True)
class Slice:
    """One part's state: a name, a version (raised whenever its fields change) and fields."""

    name: str
    version: int
    fields: tuple[Field, ...]
    # (n_inputs, n_quantiles) -> each field's (name, place, column if it is one float):
    # asked for at every step, computed once
    _places: dict[tuple[int, int], tuple[tuple[str, slice, int | None], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def size(self, n_inputs: int, n_quantiles: int = 0) -> int:
        return sum(f.size(n_inputs, n_quantiles) for f in self.fields)

    def places(
        self, n_inputs: int, n_quantiles: int = 0
    ) -> tuple[tuple[str, slice, int | None], ...]:
        """Each field's name, place inside the slice, and column where it is one float."""
        got = self._places.get((n_inputs, n_quantiles))
        if got is None:
            out, pos = [], 0
            for f in self.fields:
                size = f.size(n_inputs, n_quantiles)
                single = pos if (f.per, f.count) == ("one", 1) else None
                out.append((f.name, slice(pos, pos + size), single))
                pos += size
            got = self._places[(n_inputs, n_quantiles)] = tuple(out)
        return got

    def offsets(self, n_inputs: int, n_quantiles: int = 0) -> dict[str, slice]:
        """Each field's place inside the slice.

        >>> Slice("s", 1, (Field("a"), Field("b", per="input"))).offsets(3)
        {'a': slice(0, 1, None), 'b': slice(1, 4, None)}
        """
        return {name: place for name, place, _ in self.places(n_inputs, n_quantiles)}

    def split(self, block: F64, n_inputs: int, n_quantiles: int = 0) -> dict[str, F64]:
        """Each field of ``block`` ``(B, size)`` as a view: ``(B,)`` for a field of one float,
        ``(B, size)`` for the others.

        >>> s = Slice("s", 1, (Field("a"), Field("b", per="input")))
        >>> parts = s.split(np.arange(6.0).reshape(2, 3), 2)
        >>> parts["a"].tolist(), parts["b"].tolist()
        ([0.0, 3.0], [[1.0, 2.0], [4.0, 5.0]])
        """
        return {
            name: block[:, place] if single is None else block[:, single]
            for name, place, single in self.places(n_inputs, n_quantiles)
        }

    def fresh(self, n_inputs: int, n_quantiles: int = 0) -> F64:
        """The slice of a stream never seen."""
        parts = [np.full(f.size(n_inputs, n_quantiles), f.fresh) for f in self.fields]
        return np.concatenate(parts) if parts else np.zeros(0)


class StatsLayout:
    """Slices laid end to end for ``n_inputs`` values and ``n_quantiles`` quantiles."""

    def __init__(self, slices: Iterable[Slice], n_inputs: int, n_quantiles: int = 0) -> None:
        self.slices = tuple(slices)
        names = [s.name for s in self.slices]
        if len(set(names)) != len(names):
            raise ValueError(f"slice names must be distinct, got {names}")
        self.n_inputs, self.n_quantiles = n_inputs, n_quantiles
        self._at: dict[str, slice] = {}
        self._fields: dict[tuple[str, str], slice] = {}
        pos = 0
        for s in self.slices:
            size = s.size(n_inputs, n_quantiles)
            self._at[s.name] = slice(pos, pos + size)
            for name, inner in s.offsets(n_inputs, n_quantiles).items():
                self._fields[(s.name, name)] = slice(pos + inner.start, pos + inner.stop)
            pos += size
        self.size = pos
        self._fresh = np.concatenate([s.fresh(n_inputs, n_quantiles) for s in self.slices])

    @property
    def key(self) -> str:
        """The slices and their versions, in order: what identifies the layout."""
        return ",".join(f"{s.name}@{s.version}" for s in self.slices)

    @property
    def fingerprint(self) -> int:
        """CRC32 of the key and the sizes."""
        text = f"{self.key}|{self.n_inputs}|{self.n_quantiles}|{self.size}"
        return zlib.crc32(text.encode("ascii"))

    def at(self, name: str) -> slice:
        """Where slice ``name`` lies."""
        return self._at[name]

    def span(self, first: str, last: str) -> slice:
        """From the start of slice ``first`` to the end of slice ``last``."""
        return slice(self._at[first].start, self._at[last].stop)

    def field(self, slice_name: str, field_name: str) -> slice:
        """Where field ``field_name`` of slice ``slice_name`` lies."""
        return self._fields[(slice_name, field_name)]

    def fresh(self, batch: int = 1) -> F64:
        """The vector of ``batch`` streams never seen: ``(batch, size)`` (a new array)."""
        return np.tile(self._fresh, (batch, 1))

    def migrate(self, stats: F64, older: StatsLayout) -> F64:
        """``stats`` laid out by ``older``, laid out by this layout: every slice of the same
        name and version in both is copied, every other starts fresh. stats: ``(..., older
        .size)``."""
        if stats.shape[-1] != older.size:
            raise ValueError(f"stats has {stats.shape[-1]} floats, the older layout {older.size}")
        out = np.broadcast_to(self.fresh()[0], (*stats.shape[:-1], self.size)).copy()
        kept = {(s.name, s.version) for s in older.slices}
        for s in self.slices:
            if (s.name, s.version) in kept:
                out[..., self._at[s.name]] = stats[..., older.at(s.name)]
        return out
