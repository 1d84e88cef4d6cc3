"""The batched incremental step over a device-resident pool of per-convolution ring buffers.

Ring ``j`` of the pool is a tensor ``(capacity, L_j, C_j)``: slot ``s`` holds one stream's
last ``L_j = (k - 1) * d_j`` inputs of convolution ``j``, the input of time ``t`` in row
``t % L_j`` (the convention of ``tcnad.detector.state``). One step for ``B`` slots, each at its own
time ``t_b``, reads the ``k - 1`` past taps of every convolution (rows ``(t_b - m d_j) %
L_j``), computes the new column with one matmul over the taps plus one over the current
input, and writes the current input into row ``t_b % L_j``. Unwritten rows are zeros, which
is exactly the causal zero padding of the full forward pass, so stepping equals
``tcnad.detector.model.folded_forward`` to float32 rounding.

The rings may be held in half precision (``ring_dtype`` float16 or bfloat16), halving the
state of a stream, or as 8-bit floats (``float8_e5m2``, held as their bits in uint8),
quartering it; the step still computes in float32: the taps read are widened to float32
and each new input is rounded to the ring dtype when it is written (so a ring holds
exactly what the store keeps, and a stream reloaded from the store continues as one that
stayed in the pool).
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from tcnad.detector.arrays import I64
from tcnad.detector.model import Weights, params_to_quantiles
from tcnad.detector.spec import TCNSpec
from tcnad.detector.state import STORED_DTYPE, check_ring_dtype, float8_as_float16

A = TypeVar("A", npt.NDArray[np.int64], Tensor)
TORCH_RING_DTYPE = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float8_e5m2": torch.float8_e5m2,
}
# How a ring dtype's values are held in the pool's tensors where that is not the dtype
# itself: float8 as its bits (not every torch operation the pool uses takes float8).
_HELD_AS = {"float8_e5m2": torch.uint8}
# numpy has no bfloat16 or float8: on CPU such rings are viewed as integers (the same bits)
_NUMPY_VIEW = {"bfloat16": torch.int16, "float8_e5m2": torch.uint8}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when available, else CPU; otherwise as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class _Conv:
    """One convolution's folded weights as matmul operands, on the pool's device.

    past: ``((k - 1) * C_in, C_out)`` rows ordered (tap oldest first, channel);
    cur: ``(C_in, C_out)``; bias: ``(C_out,)``.
    """

    def __init__(self, weight: Tensor, bias: Tensor, device: torch.device) -> None:
        c_out, c_in, k = weight.shape
        w = weight.to(device=device, dtype=torch.float32)
        self.past = w[:, :, : k - 1].permute(2, 1, 0).reshape((k - 1) * c_in, c_out).contiguous()
        self.cur = w[:, :, k - 1].t().contiguous()
        self.bias = bias.to(device=device, dtype=torch.float32).contiguous()


class RingPool:
    """Ring buffers of ``capacity`` stream slots plus each slot's step count.

    rings[j]: ``(capacity, L_j, C_j)`` in ``ring_dtype`` on ``device``; steps:
    ``(capacity,)`` int64 host array (readings applied per slot). Whatever ``ring_dtype``,
    rows are read and written as float32 (``read``, ``write``, ``read_rows``).
    """

    def __init__(
        self,
        spec: TCNSpec,
        weights: Weights,
        capacity: int,
        device: str | torch.device | None = None,
        ring_dtype: str = "float32",
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.spec = spec
        self.capacity = capacity
        self.device = resolve_device(device)
        self.ring_dtype = check_ring_dtype(ring_dtype)
        self._dtype = TORCH_RING_DTYPE[ring_dtype]
        self._held = _HELD_AS.get(ring_dtype, self._dtype)  # the rings' tensors' dtype
        self.stored_dtype = STORED_DTYPE[ring_dtype]  # how numpy sees a ring's values
        self._half = self._dtype != torch.float32
        self._float8 = self._dtype == torch.float8_e5m2
        self._np_view = _NUMPY_VIEW.get(ring_dtype, self._dtype)
        self.rings = [
            torch.zeros((capacity, length, ch), dtype=self._held, device=self.device)
            for length, ch in spec.ring_shapes
        ]
        self.steps: I64 = np.zeros(capacity, dtype=np.int64)
        self._load_weights(weights)
        k = spec.kernel_size
        dil = np.asarray(spec.dilations, dtype=np.int64)
        taps = np.arange(k - 1, 0, -1, dtype=np.int64)
        self._offsets = (dil[:, None] * taps[None, :])[:, None, :]  # (n_blocks, 1, k-1)
        self._lengths = ((k - 1) * dil)[:, None]  # (n_blocks, 1)
        self._offsets_dev = torch.from_numpy(self._offsets).to(self.device)
        self._lengths_dev = torch.from_numpy(self._lengths).to(self.device)
        # On CPU the row gathers and writes go through numpy views of the same memory
        # (measured faster than index_select / index_copy_ for scattered rows).
        self._host = self.device.type == "cpu"
        self._flat = [r.view(-1, r.shape[2]) for r in self.rings]
        self._flat_np = [f.view(self._np_view).numpy() for f in self._flat] if self._host else []

    def _load_weights(self, weights: Weights) -> None:
        spec, dev = self.spec, self.device
        self._convs = [
            _Conv(weights[f"conv{j}.weight"], weights[f"conv{j}.bias"], dev)
            for j in range(spec.n_convs)
        ]
        self._downs: list[tuple[Tensor, Tensor] | None] = []
        for b in range(len(spec.dilations)):
            if f"down{b}.weight" in weights:
                w = weights[f"down{b}.weight"].to(dev, torch.float32).t().contiguous()
                self._downs.append((w, weights[f"down{b}.bias"].to(dev, torch.float32)))
            else:
                self._downs.append(None)
        self._head_w = weights["head.weight"].to(dev, torch.float32).t().contiguous()
        self._head_b = weights["head.bias"].to(dev, torch.float32).contiguous()

    @staticmethod
    def _indices(slots: A, t: A, offsets: A, lengths: A) -> tuple[A, A]:
        """Flat ring row indices (numpy on CPU, device tensors otherwise). slots, t: ``(B,)``;
        offsets ``(n_blocks, 1, k-1)``; lengths ``(n_blocks, 1)``. Returns taps ``(n_blocks,
        B, k-1)`` (oldest tap first) and writes ``(n_blocks, B)``; row ``r`` of slot ``s``
        in a ring viewed as ``(capacity * L, C)`` is ``s * L + r``."""
        base = slots[None, :] * lengths
        taps = (t[None, :, None] - offsets) % lengths[:, :, None]
        writes = t[None, :] % lengths
        return base[:, :, None] + taps, base + writes

    def _widen(self, held: Tensor) -> Tensor:
        """Ring values as the rings' tensors hold them -> float32 (on their device)."""
        if not self._half:
            return held
        if self._float8 and held.device.type == "cpu":
            # float8_e5m2 is the upper byte of a float16: one shift into a float16, which
            # is several times faster than torch's float8 conversion on a CPU
            return torch.from_numpy(float8_as_float16(held.numpy())).float()
        return held.view(self._dtype).float()

    def _narrow(self, x: Tensor) -> Tensor:
        """Ring values (float32, or float16 for a float8 ring) -> as the rings' tensors hold
        them: rounded to the ring dtype (to nearest, ties to even)."""
        if not self._half:
            return x
        return x.to(self._dtype).view(self._held)

    def _gather(self, j: int, rows: I64 | Tensor) -> Tensor:
        """Rows of ring ``j`` (flat indices ``(n,)``: numpy on CPU, a device tensor
        otherwise) -> ``(n, C_j)`` float32 on the pool's device."""
        if isinstance(rows, Tensor):
            return self._widen(self._flat[j].index_select(0, rows))
        return self._widen(torch.from_numpy(np.take(self._flat_np[j], rows, axis=0)))

    def _scatter(self, j: int, rows: I64 | Tensor, x: Tensor) -> None:
        """Write ``x`` ``(n, C_j)`` float32 into rows ``(n,)`` of ring ``j`` (rounded to
        the ring dtype)."""
        x = self._narrow(x)
        if isinstance(rows, Tensor):
            self._flat[j].index_copy_(0, rows, x)
        else:
            self._flat_np[j][rows] = x.view(self._np_view).numpy()

    @torch.inference_mode()
    def step(self, slots: I64, z: Tensor) -> Tensor:
        """Advance ``B`` distinct slots by one input each.

        slots: ``(B,)`` int64 host array of distinct slots; z: ``(B, N)`` float32 normalised
        inputs (any device). Returns ``(B, N, Q)`` float32 normalised quantiles of each
        stream's next input, on the pool's device.
        """
        bsz = len(slots)
        if bsz == 0:
            shape = (0, self.spec.n_inputs, self.spec.n_quantiles)
            return torch.zeros(shape, dtype=torch.float32, device=self.device)
        taps: I64 | Tensor
        writes: I64 | Tensor
        # A single row takes another matrix kernel than a batch in some BLAS builds, which
        # rounds differently: stepped as two equal rows, a stream's arithmetic does not
        # depend on whether other streams share its step (nor its rings' rounding on that).
        computed = np.repeat(slots, 2) if bsz == 1 else slots
        if self._host:
            taps, writes = self._indices(
                computed, self.steps[computed], self._offsets, self._lengths
            )
        else:  # index arithmetic on the device: two small host-to-device copies per step
            slot_t = torch.from_numpy(computed).to(self.device)
            t = torch.from_numpy(self.steps[computed]).to(self.device)
            taps, writes = self._indices(slot_t, t, self._offsets_dev, self._lengths_dev)
        x = z.to(device=self.device, dtype=torch.float32)
        if bsz == 1:
            x = x.expand(2, -1)
        rows = len(computed)
        for b in range(len(self.spec.dilations)):
            inp = x
            tap_rows = taps[b].reshape(-1)
            for j in (2 * b, 2 * b + 1):
                conv = self._convs[j]
                past = self._gather(j, tap_rows).view(rows, -1)
                h = torch.addmm(conv.bias, past, conv.past)
                h.addmm_(x, conv.cur)
                self._scatter(j, writes[b], x)
                x = h.relu_()
            down = self._downs[b]
            res = inp if down is None else torch.addmm(down[1], inp, down[0])
            x = x.add_(res).relu_()
        params = torch.addmm(self._head_b, x, self._head_w)[:bsz]
        self.steps[slots] += 1
        q = params.view(bsz, self.spec.n_inputs, self.spec.n_quantiles)
        return params_to_quantiles(q, self.spec.median_index)

    def reset(self, slots: I64) -> None:
        """Zero the rings and step counts of ``slots`` in place (streams never seen)."""
        idx = torch.from_numpy(slots).to(self.device)
        for ring in self.rings:
            ring.index_fill_(0, idx, 0.0)
        self.steps[slots] = 0

    def read(self, slots: I64) -> list[npt.NDArray[np.float32]]:
        """Copy whole rings of ``slots`` to host: per conv ``(B, L_j, C_j)`` float32."""
        idx = torch.from_numpy(slots).to(self.device)
        return [self._widen(r.index_select(0, idx)).cpu().numpy() for r in self.rings]

    def write(self, slots: I64, rings: list[npt.NDArray[Any]], steps: I64) -> None:
        """Overwrite whole rings and step counts of ``slots``. rings[j]: ``(B, L_j, C_j)``
        float32 (rounded to the ring dtype), or already of the ring dtype (float16), or
        float16 for a float8 ring (rounded to it: exact for values a float8 ring held)."""
        idx = None if self._host else torch.from_numpy(slots).to(self.device)
        for j, (ring, rows) in enumerate(zip(self.rings, rings, strict=True)):
            values = torch.from_numpy(rows).to(self.device)
            if values.dtype != self._held:  # not already as the ring holds them
                values = self._narrow(values if self._half else values.float())
            if idx is None:  # a numpy view's row copies: faster than index_copy_ here
                self._flat_np[j].reshape(ring.shape)[slots] = values.view(self._np_view).numpy()
            else:
                ring.index_copy_(0, idx, values)
        self.steps[slots] = steps

    def read_rows(self, j: int, slots: I64, rows: I64, stored: bool = False) -> npt.NDArray[Any]:
        """Rows of ring ``j``. slots: ``(B,)``, rows: ``(B, n)`` -> ``(B, n, C_j)`` float32;
        ``stored``: as the ring holds them instead (``stored_dtype``: float16 values,
        or bfloat16's or float8's bits as uint16 or uint8), which is what a store writes,
        without widening the rows only for the store to round them back."""
        length, ch = self.spec.ring_shapes[j]
        flat = (slots[:, None] * length + rows).reshape(-1)
        if self._host:
            got = torch.from_numpy(np.take(self._flat_np[j], flat, axis=0))
        else:
            got = self._flat[j].index_select(0, torch.from_numpy(flat).to(self.device)).cpu()
        if stored:
            out = got.view(self._np_view).numpy().view(self.stored_dtype)
        else:
            out = self._widen(got).numpy()
        return out.reshape(len(slots), rows.shape[1], ch)
