"""``TCNSpec``: the shape of the network and of its normalisation, stored with the weights."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tcnad.detector.errors import SpecError

DEFAULT_QUANTILES: tuple[float, ...] = (0.005, 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975, 0.995)
DEFAULT_DILATIONS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True)
class TCNSpec:
    """Hyperparameters of the causal dilated TCN quantile forecaster.

    n_inputs: values per reading (the model forecasts quantiles for each).
    channels: hidden channels of every residual block.
    kernel_size: taps per causal convolution.
    dilations: one Bai et al. residual block (two causal convolutions) per dilation.
    dropout: dropout after each convolution's ReLU (training only).
    quantiles: strictly increasing levels in (0, 1); must contain 0.5.
    norm_alpha: floor of the exponential weight of the running mean/variance (the first
        readings use a cumulative mean, weight ``1/n``, until ``1/n < norm_alpha``).
    norm_clip: normalised inputs and targets are clipped to ``[-norm_clip, norm_clip]``; once
        warm, a reading updates the statistics only through its clipped value.
    norm_warmup: readings before the clipping of statistic updates starts.
    norm_min_std: absolute floor of the running standard deviation.
    norm_rel_std: floor relative to ``|mean|`` (keeps constant streams finite).
    """

    n_inputs: int = 1
    channels: int = 32
    kernel_size: int = 3
    dilations: tuple[int, ...] = DEFAULT_DILATIONS
    dropout: float = 0.1
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    norm_alpha: float = 0.01
    norm_clip: float = 8.0
    norm_warmup: int = 16
    norm_min_std: float = 1e-6
    norm_rel_std: float = 1e-4

    def __post_init__(self) -> None:
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        object.__setattr__(self, "quantiles", tuple(float(q) for q in self.quantiles))
        self._validate_shape()
        self._validate_quantiles()
        self._validate_norm()

    def _validate_shape(self) -> None:
        if self.n_inputs < 1:
            raise SpecError(f"n_inputs must be >= 1, got {self.n_inputs}")
        if self.channels < 1:
            raise SpecError(f"channels must be >= 1, got {self.channels}")
        if self.kernel_size < 2:
            raise SpecError(f"kernel_size must be >= 2, got {self.kernel_size}")
        if not self.dilations or any(d < 1 for d in self.dilations):
            raise SpecError(f"dilations must be a non-empty list of ints >= 1: {self.dilations}")
        if not 0.0 <= self.dropout < 1.0:
            raise SpecError(f"dropout must be in [0, 1), got {self.dropout}")

    def _validate_quantiles(self) -> None:
        qs = self.quantiles
        if any(not 0.0 < q < 1.0 for q in qs):
            raise SpecError(f"quantile levels must lie in (0, 1): {qs}")
        if any(b <= a for a, b in itertools.pairwise(qs)):
            raise SpecError(f"quantile levels must be strictly increasing: {qs}")
        if 0.5 not in qs:
            raise SpecError(f"quantile levels must contain the median 0.5: {qs}")
        if qs[0] == 0.5 or qs[-1] == 0.5:
            raise SpecError(f"quantile levels need at least one level each side of 0.5: {qs}")

    def _validate_norm(self) -> None:
        if not 0.0 < self.norm_alpha <= 1.0:
            raise SpecError(f"norm_alpha must be in (0, 1], got {self.norm_alpha}")
        if not (self.norm_clip > 0.0 and math.isfinite(self.norm_clip)):
            raise SpecError(f"norm_clip must be a positive number, got {self.norm_clip}")
        if self.norm_warmup < 1:
            raise SpecError(f"norm_warmup must be >= 1, got {self.norm_warmup}")
        if not self.norm_min_std > 0.0 or self.norm_rel_std < 0.0:
            raise SpecError("norm_min_std must be > 0 and norm_rel_std >= 0")

    @property
    def n_quantiles(self) -> int:
        return len(self.quantiles)

    @property
    def median_index(self) -> int:
        return self.quantiles.index(0.5)

    @property
    def n_convs(self) -> int:
        return 2 * len(self.dilations)

    @property
    def conv_dilations(self) -> tuple[int, ...]:
        """Dilation of every convolution, in network order."""
        return tuple(d for d in self.dilations for _ in range(2))

    @property
    def receptive_field(self) -> int:
        """Readings that can influence one forecast: ``1 + sum_j (k - 1) * d_j``."""
        return 1 + sum((self.kernel_size - 1) * d for d in self.conv_dilations)

    @property
    def ring_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(L_j, C_j)`` per convolution: ring rows ``(k - 1) * d_j``, input channels."""
        shapes: list[tuple[int, int]] = []
        for i, d in enumerate(self.dilations):
            length = (self.kernel_size - 1) * d
            shapes.append((length, self.n_inputs if i == 0 else self.channels))
            shapes.append((length, self.channels))
        return tuple(shapes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``from_dict(to_dict())`` gives an equal spec."""
        out = asdict(self)
        out["dilations"] = list(self.dilations)
        out["quantiles"] = list(self.quantiles)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TCNSpec:
        """Inverse of ``to_dict``; unknown keys or bad values raise ``SpecError``."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown TCNSpec fields: {sorted(unknown)}")
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError(f"invalid TCNSpec: {exc}") from exc
