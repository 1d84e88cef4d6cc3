"""The Bai et al. (2018) residual TCN with a non-crossing quantile head, and pinball loss.

Training uses ``TCN`` (weight-normalised convolutions, dropout). Inference uses the folded
weights (``fold``): plain tensors keyed by name, consumed by ``folded_forward`` (the full
causal pass) and by ``tcnad.detector.streaming`` (the incremental step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from tcnad.detector.spec import TCNSpec

Weights = dict[str, Tensor]


def params_to_quantiles(params: Tensor, median_index: int) -> Tensor:
    """Map unconstrained head outputs to non-decreasing quantiles along the last dim.

    params: ``(..., Q)``. Returns ``(..., Q)``: the median plus cumulative softplus offsets
    upwards and minus cumulative softplus offsets downwards, so levels never cross.
    """
    med = params[..., median_index : median_index + 1]
    up = med + torch.cumsum(F.softplus(params[..., median_index + 1 :]), dim=-1)
    below = params[..., :median_index].flip(-1)
    down = (med - torch.cumsum(F.softplus(below), dim=-1)).flip(-1)
    return torch.cat([down, med, up], dim=-1)


def pinball_loss(
    pred: Tensor, target: Tensor, levels: Tensor, mask: Tensor | None = None
) -> Tensor:
    """Mean quantile loss. pred: ``(..., Q)``, target: ``(...)``, levels: ``(Q,)``.

    mask: optional bool/float over the leading dims of ``target`` (e.g. ``(B, T)`` for a
    ``(B, T, N)`` target); positions with 0 do not count.
    """
    diff = target.unsqueeze(-1) - pred
    loss = torch.maximum(levels * diff, (levels - 1.0) * diff).mean(dim=-1)
    if mask is None:
        return loss.mean()
    weights = mask.to(loss.dtype)
    while weights.dim() < loss.dim():
        weights = weights.unsqueeze(-1)
    weights = weights.expand_as(loss)
    return (loss * weights).sum() / weights.sum().clamp_min(1.0)


class CausalConv(nn.Module):
    """Weight-normalised dilated causal convolution (left padding only).

    forward: ``(B, C_in, T) -> (B, C_out, T)``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
        nn.init.normal_(conv.weight, 0.0, 0.01)
        self.conv = weight_norm(conv)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (self.pad, 0)))  # type: ignore[no-any-return]


class ResidualBlock(nn.Module):
    """Two causal convs with ReLU + dropout; 1x1 conv on the skip path if channels differ;
    ReLU after the addition. ``(B, C_in, T) -> (B, C_out, T)``."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = CausalConv(c_in, c_out, kernel_size, dilation)
        self.conv2 = CausalConv(c_out, c_out, kernel_size, dilation)
        self.drop = nn.Dropout(dropout)
        self.down = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(F.relu(self.conv1(x)))
        h = self.drop(F.relu(self.conv2(h)))
        res = x if self.down is None else self.down(x)
        return F.relu(h + res)


class TCN(nn.Module):
    """Causal TCN forecasting the next reading's quantiles at every time step.

    forward: z ``(B, T, N)`` normalised inputs -> ``(B, T, N, Q)`` normalised quantiles of
    the reading at ``t + 1``.
    """

    def __init__(self, spec: TCNSpec) -> None:
        super().__init__()
        self.spec = spec
        blocks: list[nn.Module] = []
        c_in = spec.n_inputs
        for d in spec.dilations:
            blocks.append(ResidualBlock(c_in, spec.channels, spec.kernel_size, d, spec.dropout))
            c_in = spec.channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv1d(spec.channels, spec.n_inputs * spec.n_quantiles, 1)

    def forward(self, z: Tensor) -> Tensor:
        h = z.transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        return _head(self.head(h), self.spec)


def _head(params: Tensor, spec: TCNSpec) -> Tensor:
    """``(B, N * Q, T)`` head output -> ``(B, T, N, Q)`` non-crossing quantiles."""
    b, _, t = params.shape
    p = params.view(b, spec.n_inputs, spec.n_quantiles, t).permute(0, 3, 1, 2)
    return params_to_quantiles(p, spec.median_index)


def fold(model: TCN) -> Weights:
    """Plain inference weights (weight norm folded in), float32 on CPU, keyed by name:
    ``conv{j}.weight (C_out, C_in, k)``, ``conv{j}.bias``, ``down{b}.weight (C_out, C_in)``,
    ``down{b}.bias`` (only blocks whose channel counts differ), ``head.weight (N*Q, C)``,
    ``head.bias``."""
    out: Weights = {}
    with torch.no_grad():
        for b, block in enumerate(model.blocks):
            assert isinstance(block, ResidualBlock)
            for i, conv in enumerate((block.conv1, block.conv2)):
                out[f"conv{2 * b + i}.weight"] = conv.conv.weight.detach().float().cpu().clone()
                out[f"conv{2 * b + i}.bias"] = conv.conv.bias.detach().float().cpu().clone()
            if block.down is not None:
                out[f"down{b}.weight"] = block.down.weight.detach()[:, :, 0].float().cpu().clone()
                out[f"down{b}.bias"] = _bias(block.down)
        out["head.weight"] = model.head.weight.detach()[:, :, 0].float().cpu().clone()
        out["head.bias"] = _bias(model.head)
    return {k: v.contiguous() for k, v in out.items()}


def _bias(conv: nn.Conv1d) -> Tensor:
    if conv.bias is None:
        raise ValueError("convolution without bias")
    return conv.bias.detach().float().cpu().clone()


def expected_shapes(spec: TCNSpec) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes ``fold`` produces for ``spec``."""
    shapes: dict[str, tuple[int, ...]] = {}
    c, k = spec.channels, spec.kernel_size
    for j, (_, c_in) in enumerate(spec.ring_shapes):
        shapes[f"conv{j}.weight"] = (c, c_in, k)
        shapes[f"conv{j}.bias"] = (c,)
    if spec.n_inputs != c:
        shapes["down0.weight"] = (c, spec.n_inputs)
        shapes["down0.bias"] = (c,)
    shapes["head.weight"] = (spec.n_inputs * spec.n_quantiles, c)
    shapes["head.bias"] = (spec.n_inputs * spec.n_quantiles,)
    return shapes


def folded_forward(spec: TCNSpec, weights: Weights, z: Tensor) -> Tensor:
    """Full causal forward pass with folded weights. z: ``(B, T, N)`` -> ``(B, T, N, Q)``."""
    h = z.transpose(1, 2)
    for b, d in enumerate(spec.dilations):
        x = h
        for j in (2 * b, 2 * b + 1):
            pad = (spec.kernel_size - 1) * d
            w, bias = weights[f"conv{j}.weight"], weights[f"conv{j}.bias"]
            h = F.relu(F.conv1d(F.pad(h, (pad, 0)), w, bias, dilation=d))
        if f"down{b}.weight" in weights:
            w, bias = weights[f"down{b}.weight"], weights[f"down{b}.bias"]
            x = F.conv1d(x, w.unsqueeze(-1), bias)
        h = F.relu(h + x)
    params = F.conv1d(h, weights["head.weight"].unsqueeze(-1), weights["head.bias"])
    return _head(params, spec)
