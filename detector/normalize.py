"""Causal per-stream running statistics: the one normalisation used in training and streaming.

Per stream the statistics are ``[n, mean_1..mean_N, var_1..var_N]`` (float64, ``1 + 2N``).
For reading ``x_t`` with statistics ``S_{t-1}`` (before the reading):

- model input ``z_t = clip((x_t - mean_{t-1}) / std_{t-1}, +-norm_clip)`` (``z_0 = 0``);
- update ``S_{t-1} -> S_t`` with weight ``w = max(1 / n_t, norm_alpha)`` (cumulative mean
  first, exponential later), through the clipped value once ``n >= norm_warmup``;
- the forecast made after reading ``t`` is for ``z_{t+1}``, i.e. relative to ``S_t``; raw
  quantiles are ``mean_t + std_t * q``. The training target of step ``t`` is ``z_{t+1}``.
"""

from __future__ import annotations

import numpy as np

from tcnad.detector.arrays import F64, Arr, namespace
from tcnad.detector.spec import TCNSpec


def norm_size(n_inputs: int) -> int:
    """Length of the normalisation slice of a stream's stats."""
    return 1 + 2 * n_inputs


def new_norm_stats(spec: TCNSpec, batch: int = 1) -> F64:
    """Statistics of streams that have seen nothing: ``(batch, 1 + 2N)`` zeros."""
    return np.zeros((batch, norm_size(spec.n_inputs)), dtype=np.float64)


def running_std(spec: TCNSpec, stats: Arr) -> Arr:
    """Floored standard deviation. stats: ``(B, 1 + 2N)`` -> ``(B, N)``."""
    xp = namespace(stats)
    n = spec.n_inputs
    mean, var = stats[:, 1 : 1 + n], stats[:, 1 + n : 1 + 2 * n]
    floor = spec.norm_min_std + spec.norm_rel_std * xp.abs(mean)
    return xp.maximum(xp.sqrt(xp.maximum(var, 0.0)), floor)


def normalize_step(spec: TCNSpec, stats: Arr, x: Arr) -> tuple[Arr, Arr]:
    """One reading per stream. stats: ``(B, 1 + 2N)``, x: ``(B, N)`` raw values (numpy
    arrays or torch tensors alike, see ``tcnad.detector.arrays``).

    Returns ``(z, new_stats)``: z ``(B, N)`` clipped normalised input (0 for a stream's
    first reading) and the statistics after the reading. ``stats`` is not modified.
    """
    xp = namespace(stats, x)
    n = spec.n_inputs
    count = stats[:, :1]
    mean = stats[:, 1 : 1 + n]
    var = stats[:, 1 + n : 1 + 2 * n]
    std = running_std(spec, stats)
    clip = spec.norm_clip
    z = xp.where(count > 0, xp.clip((x - mean) / std, -clip, clip), 0.0)
    x_upd = xp.where(count >= spec.norm_warmup, mean + std * z, x)
    w = xp.maximum(1.0 / (count + 1.0), spec.norm_alpha)
    delta = x_upd - mean
    new = xp.empty_like(stats)
    new[:, :1] = count + 1.0
    new[:, 1 : 1 + n] = mean + w * delta
    new[:, 1 + n : 1 + 2 * n] = (1.0 - w) * (var + w * delta * delta)
    return z, new


def denormalize(spec: TCNSpec, stats: Arr, q: Arr) -> Arr:
    """Normalised quantiles -> raw units. stats: ``(B, 1 + 2N)``, q: ``(B, N, Q)``."""
    n = spec.n_inputs
    mean = stats[:, 1 : 1 + n]
    return mean[:, :, None] + running_std(spec, stats)[:, :, None] * q


def normalize_series(spec: TCNSpec, x: F64) -> tuple[F64, F64]:
    """Apply ``normalize_step`` along whole series, vectorised over series.

    x: ``(S, T, N)`` raw. Returns ``(z, stats)``: z ``(S, T, N)`` inputs, stats
    ``(S, T, 1 + 2N)`` the statistics after each reading (for mapping forecasts to raw).
    """
    s, t, n = x.shape
    if n != spec.n_inputs:
        raise ValueError(f"series have {n} values per reading, the spec expects {spec.n_inputs}")
    z = np.empty((s, t, n), dtype=np.float64)
    out = np.empty((s, t, norm_size(n)), dtype=np.float64)
    stats = new_norm_stats(spec, s)
    for i in range(t):
        z[:, i], stats = normalize_step(spec, stats, x[:, i])
        out[:, i] = stats
    return z, out
