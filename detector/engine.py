"""``Detector``: a checkpoint's model, a pool of stream slots, and the per-reading pipeline.

Per reading of a stream: score the observation against the band forecast one step earlier
(``scoring``), update the stream's normalisation statistics (``normalize``), advance the
TCN by one step (``streaming``) and store the forecast for the next reading, in raw units,
in the stream's ``stats``:

``stats = [normalisation (1 + 2N) | pending quantiles (N * Q, raw) | scoring.SLICES]``, laid
out by ``stats_layout`` (named, versioned slices; older known layouts are migrated).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch

from tcnad.detector import normalize, scoring
from tcnad.detector.arrays import F64, I64, Arr, namespace
from tcnad.detector.checkpoint import load_checkpoint
from tcnad.detector.errors import DetectorError
from tcnad.detector.model import Weights
from tcnad.detector.result import StepResult
from tcnad.detector.scoring import AlertPolicy
from tcnad.detector.scoring.layout import NAN, Field, Slice, StatsLayout
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import (
    DEFAULT_RING_DTYPE,
    OlderStats,
    StateDelta,
    StateLayout,
    StreamState,
)
from tcnad.detector.streaming import RingPool

NORMALISATION = Slice(
    "normalisation", 1, (Field("count"), Field("mean", per="input"), Field("var", per="input"))
)
PENDING = Slice("pending", 1, (Field("quantiles", per="quantile", fresh=NAN),))


def stats_layout(spec: TCNSpec, scoring_slices: tuple[Slice, ...] = scoring.SLICES) -> StatsLayout:
    """The layout of a stream's ``stats``: normalisation, pending quantiles, scoring."""
    slices = (NORMALISATION, PENDING, *scoring_slices)
    return StatsLayout(slices, spec.n_inputs, spec.n_quantiles)


def _stats_key(layout: StatsLayout, scoring_slices: tuple[Slice, ...]) -> str:
    """What tells the layout's states apart from others of its size: nothing for the first
    known list of slices (states stored before slices had versions carry no key), the
    layout's key for every later one."""
    return "" if scoring_slices == scoring.KNOWN_LAYOUTS[0] else layout.key


def _older(spec: TCNSpec, new: StatsLayout) -> tuple[OlderStats, ...]:
    """How a stored vector of each older known layout becomes one of ``new``."""
    out = []
    for known in scoring.KNOWN_LAYOUTS:
        if known == scoring.SLICES:
            continue
        old = stats_layout(spec, known)

        def upgrade(stats: F64, old: StatsLayout = old) -> F64:
            return new.migrate(stats, old)

        out.append(OlderStats(old.size, _stats_key(old, known), upgrade))
    return tuple(out)


def detector_layout(
    spec: TCNSpec, model_id: str, ring_dtype: str = DEFAULT_RING_DTYPE
) -> StateLayout:
    """The ``StateLayout`` of a ``Detector`` of ``spec`` and ``model_id``: its stats laid out
    by ``stats_layout``, and how a state of each older known layout is migrated."""
    lay = stats_layout(spec)
    key, older = _stats_key(lay, scoring.SLICES), _older(spec, lay)
    return StateLayout(spec.ring_shapes, lay.size, model_id, ring_dtype, stats_key=key, older=older)


class StepInputError(DetectorError, ValueError):
    """Arguments of a ``Detector`` call have the wrong shape, type or range."""


class StreamDetector(Protocol):
    """A pool of ``capacity`` stream slots stepped one reading per slot per call: what the
    worker and offline scoring use of a ``Detector`` (unit tests pass small fakes).

    Slot arguments are ``(B,)`` int64 arrays of distinct slots in ``[0, capacity)``.
    """

    @property
    def layout(self) -> StateLayout: ...

    @property
    def model_id(self) -> str: ...

    @property
    def spec(self) -> TCNSpec: ...

    @property
    def capacity(self) -> int: ...

    def new_state(self) -> StreamState: ...

    def reset(self, slots: I64) -> None:
        """Put ``new_state()`` into each of ``slots``."""
        ...

    def put(self, slots: I64, states: list[StreamState]) -> None: ...

    def get(self, slots: I64) -> list[StreamState]: ...

    def delta(self, slots: I64, since_steps: I64) -> list[StateDelta]: ...

    def step(
        self, slots: I64, values: F64, times: F64 | None = None, where: F64 | None = None
    ) -> StepResult:
        """Step streams ``slots`` one reading each; ``values`` ``(B, n_inputs)``, ``times``
        ``(B,)`` the readings' epoch seconds (None or NaN: unknown), ``where`` ``(B, 2)``
        their partitions and offsets (None: unknown)."""
        ...


def compute_model_id(spec: TCNSpec, weights: Weights) -> str:
    """Stable short hash of the spec and the folded weights."""
    h = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for name in sorted(weights):
        h.update(name.encode())
        h.update(weights[name].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Detector:
    """Steps many streams, one reading each per call, over a pool of ``capacity`` slots.

    The TCN step runs on ``device`` (``None`` or ``"auto"``: CUDA where present). The
    per-reading scoring and the streams' stats go with it unless ``score_on_device`` says
    otherwise (``None``: on the device when it is not the CPU; ``True`` on the CPU: in
    torch there too, which is slower than numpy and only for checking that both agree).
    Either way ``step`` returns numpy arrays and ``get``, ``put`` and ``delta`` exchange
    host states.
    """

    def __init__(
        self,
        spec: TCNSpec,
        weights: Weights,
        policy: AlertPolicy | None = None,
        device: str | torch.device | None = None,
        capacity: int = 4096,
        meta: dict[str, object] | None = None,
        ring_dtype: str = DEFAULT_RING_DTYPE,
        score_on_device: bool | None = None,
    ) -> None:
        self.spec = spec
        self.policy = policy or AlertPolicy()
        self.meta = dict(meta or {})
        self.weights = weights
        self.pool = RingPool(spec, weights, capacity, device, ring_dtype)
        self.model_id = compute_model_id(spec, weights)
        self.stats_layout = lay = stats_layout(spec)
        self._norm, self._pend = lay.at("normalisation"), lay.at("pending")
        self._scoring = lay.span(scoring.SLICES[0].name, scoring.SLICES[-1].name)
        self.layout = detector_layout(spec, self.model_id, ring_dtype)
        self._levels = np.asarray(spec.quantiles, dtype=np.float64)
        dev = self.pool.device
        on_device = dev.type != "cpu" if score_on_device is None else bool(score_on_device)
        self.score_on_device = on_device
        fresh = np.tile(self._fresh_stats(), (capacity, 1))
        # Every slot's stats, float64: a numpy array on the host, or a tensor on the pool's
        # device when the scoring runs there (``score_on_device``).
        self._stats: Arr = torch.from_numpy(fresh).to(dev) if on_device else fresh

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        policy: AlertPolicy | None = None,
        device: str | torch.device | None = None,
        capacity: int = 4096,
        ring_dtype: str = DEFAULT_RING_DTYPE,
        score_on_device: bool | None = None,
    ) -> Detector:
        """Load a checkpoint (``None``: the shipped default model); ``ring_dtype``: how the
        pool holds (and a store keeps) the rings, see ``tcnad.detector.state.RING_DTYPES``;
        ``score_on_device``: see ``Detector``."""
        spec, weights, meta = load_checkpoint(path)
        return cls(spec, weights, policy, device, capacity, meta, ring_dtype, score_on_device)

    @property
    def capacity(self) -> int:
        return self.pool.capacity

    @property
    def device(self) -> torch.device:
        return self.pool.device

    def _fresh_stats(self) -> F64:
        fresh: F64 = self.stats_layout.fresh()[0]
        return fresh

    def _rows(self, idx: I64) -> Arr:
        """``idx`` as the index of ``_stats``: itself, or a tensor on the stats' device."""
        if isinstance(self._stats, np.ndarray):
            return idx
        return torch.from_numpy(idx).to(self._stats.device)

    def _host_stats(self, idx: I64) -> F64:
        """A host copy of the stats of slots ``idx``: ``(B, stats_size)``."""
        rows = self._stats[self._rows(idx)]  # fancy indexing: a copy
        out: F64 = rows if isinstance(rows, np.ndarray) else rows.cpu().numpy()
        return out

    def _set_stats(self, idx: I64, stats: F64) -> None:
        """Write host stats ``(B, stats_size)`` (or one row for all) into slots ``idx``."""
        if isinstance(self._stats, np.ndarray):
            self._stats[idx] = stats
        else:
            self._stats[self._rows(idx)] = torch.from_numpy(stats).to(self._stats.device)

    def new_state(self) -> StreamState:
        """State of a stream never seen: step 0, zero rings, fresh statistics."""
        rings = tuple(np.zeros(shape, dtype=np.float32) for shape in self.spec.ring_shapes)
        return StreamState(step=0, rings=rings, stats=self._fresh_stats())

    def _check_slots(self, slots: npt.ArrayLike) -> I64:
        arr = np.asarray(slots)
        if arr.shape == (0,):
            return np.zeros(0, dtype=np.int64)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise StepInputError(f"slots must be a 1-d integer array, got {arr.dtype} {arr.shape}")
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= self.capacity):
            raise StepInputError(
                f"slots must lie in [0, {self.capacity}), got {arr.min()}..{arr.max()}"
            )
        ordered = np.sort(arr)
        if (ordered[1:] == ordered[:-1]).any():
            raise StepInputError("slots must be distinct within one call")
        return arr

    def reset(self, slots: npt.ArrayLike) -> None:
        """Give pool slots the state of a stream never seen: the same as ``put`` with
        ``new_state()`` for each, without building the states (zeroed in place)."""
        idx = self._check_slots(slots)
        if not idx.size:
            return
        self.pool.reset(idx)
        self._set_stats(idx, self._fresh_stats())

    def put(self, slots: npt.ArrayLike, states: list[StreamState]) -> None:
        """Write full stream states into pool slots (replacing what the slots held)."""
        idx = self._check_slots(slots)
        if len(states) != idx.size:
            raise StepInputError(f"{idx.size} slots but {len(states)} states")
        for st in states:
            self._check_state(st)
        if not idx.size:
            return
        rings = [np.stack([st.rings[j] for st in states]) for j in range(self.spec.n_convs)]
        steps = np.array([st.step for st in states], dtype=np.int64)
        self.pool.write(idx, rings, steps)
        self._set_stats(idx, np.stack([st.stats for st in states]))

    def _check_state(self, st: StreamState) -> None:
        if st.step < 0:
            raise StepInputError(f"state step must be >= 0, got {st.step}")
        if len(st.rings) != self.spec.n_convs:
            raise StepInputError(f"state has {len(st.rings)} rings, model has {self.spec.n_convs}")
        for j, (ring, shape) in enumerate(zip(st.rings, self.spec.ring_shapes, strict=True)):
            if ring.shape != shape:
                raise StepInputError(f"ring {j} has shape {ring.shape}, model needs {shape}")
        if st.stats.shape != (self.layout.stats_size,):
            raise StepInputError(
                f"stats has shape {st.stats.shape}, model needs ({self.layout.stats_size},)"
            )

    def get(self, slots: npt.ArrayLike) -> list[StreamState]:
        """Full states of ``slots`` (host copies)."""
        idx = self._check_slots(slots)
        rings = self.pool.read(idx)
        steps, stats = self.pool.steps[idx], self._host_stats(idx)
        return [
            StreamState(int(steps[b]), tuple(r[b] for r in rings), stats[b])
            for b in range(idx.size)
        ]

    def delta(self, slots: npt.ArrayLike, since_steps: npt.ArrayLike) -> list[StateDelta]:
        """Ring rows written since ``since_steps`` (per ``tcnad.detector.state.StateDelta``),
        as the rings hold them (float16 rings: float16 rows). Streams with the same number
        of new steps are read together: one gather per ring, into one array per group."""
        idx = self._check_slots(slots)
        since = np.asarray(since_steps, dtype=np.int64).reshape(-1)
        steps = self.pool.steps[idx]
        if since.shape != idx.shape or (since < 0).any() or (since > steps).any():
            raise StepInputError("since_steps must be (B,) with 0 <= since_step <= step")
        stored = self.pool.stored_dtype  # the rows as the rings hold them
        packed: list[npt.NDArray[Any]] = [np.zeros(0, dtype=stored)] * idx.size
        n_all = steps - since
        order = np.argsort(n_all, kind="stable")
        bounds = np.flatnonzero(np.diff(n_all[order])) + 1
        shapes = self.layout.ring_shapes
        for members in np.split(order, bounds):
            n = int(n_all[members[0]]) if members.size else 0
            if n == 0:
                continue
            s = steps[members]
            sizes = [min(n, length) * ch for length, ch in shapes]
            rows_all = np.empty((members.size, sum(sizes)), dtype=stored)
            pos = 0
            for j, ((length, ch), size) in enumerate(zip(shapes, sizes, strict=True)):
                n_j = size // ch
                rows = (s[:, None] - n_j + np.arange(n_j)[None, :]) % length
                got = self.pool.read_rows(j, idx[members], rows, stored=True)
                rows_all[:, pos : pos + size] = got.reshape(members.size, size)
                pos += size
            for b, row in zip(members.tolist(), rows_all, strict=True):
                packed[b] = row
        stats = self._host_stats(idx)
        return [
            StateDelta(int(since[b]), int(steps[b]), stats[b], packed[b]) for b in range(idx.size)
        ]

    def pending(self, slots: npt.ArrayLike) -> F64:
        """Raw quantiles forecast for each slot's next reading: ``(B, N, Q)`` (NaN: none)."""
        idx = self._check_slots(slots)
        n, q = self.spec.n_inputs, self.spec.n_quantiles
        return self._host_stats(idx)[:, self._pend].reshape(-1, n, q)

    def step(
        self,
        slots: npt.ArrayLike,
        values: npt.ArrayLike,
        times: npt.ArrayLike | None = None,
        where: npt.ArrayLike | None = None,
    ) -> StepResult:
        """Apply one reading to each of B distinct slots.

        slots: ``(B,)`` int; values: ``(B, N)`` finite float; times: ``(B,)`` the readings'
        epoch seconds (None or NaN: unknown, and the daily-pattern score stays 0); where:
        ``(B, 2)`` each reading's partition and offset, kept with an alert so that the
        reading that resolves it names it (None or NaN: unknown). Returns
        the scores of the readings against their pending bands, as the scoring computed
        them; the slots then hold the next forecast.
        """
        idx = self._check_slots(slots)
        x = np.asarray(values, dtype=np.float64)
        n, q = self.spec.n_inputs, self.spec.n_quantiles
        if x.shape != (idx.size, n):
            raise StepInputError(f"values must have shape ({idx.size}, {n}), got {x.shape}")
        if not np.isfinite(x).all():
            raise StepInputError("values must be finite")
        t = None if times is None else np.asarray(times, dtype=np.float64)
        if t is not None and t.shape != (idx.size,):
            raise StepInputError(f"times must have shape ({idx.size},), got {t.shape}")
        at = None if where is None else np.asarray(where, dtype=np.float64)
        if at is not None and at.shape != (idx.size, 2):
            raise StepInputError(f"where must have shape ({idx.size}, 2), got {at.shape}")
        rows = self._rows(idx)
        stats = self._stats[rows]
        on_host = isinstance(stats, np.ndarray)
        # The readings, on the stats' device: themselves, or one copy each to the device.
        xs, ts, ats = (
            a if on_host or a is None else torch.from_numpy(a).to(stats.device) for a in (x, t, at)
        )
        pending = stats[:, self._pend].reshape(-1, n, q)
        # The slots' new rows: the scoring writes its columns in place.
        new = namespace(stats).empty_like(stats)
        score = functools.partial(
            scoring.score_batch,
            self.policy,
            self._levels,
            pending,
            xs,
            stats[:, self._scoring],
            ts,
            ats,
            new[:, self._scoring],
        )
        if on_host:  # scoring first, while the batch's stats are in the cache
            result, _ = score()
        z, norm = normalize.normalize_step(self.spec, stats[:, self._norm], xs)
        if on_host:
            qz = self.pool.step(idx, torch.from_numpy(z.astype(np.float32)))
            qraw: Arr = qz.cpu().numpy().astype(np.float64)
        else:  # the TCN step first: the pool's copies of slot indices to the device then
            # wait only for the normalisation, not for the scoring queued behind them
            qraw = self.pool.step(idx, z.float()).double()
            result, _ = score()
        raw = normalize.denormalize(self.spec, norm, qraw)
        new[:, self._norm] = norm
        new[:, self._pend] = raw.reshape(idx.size, n * q)
        self._stats[rows] = new
        return result.on_host()
