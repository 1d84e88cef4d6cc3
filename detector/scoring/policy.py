"""``AlertPolicy``: every parameter of the scoring, one frozen, validated record.

Its fields are flat (``AlertPolicy(z_half=4.0)``, ``dataclasses.replace``, ``--set
z_half=4``), and each part of the scoring reads only its own group of them, a small policy
dataclass declared with the part: ``policy.band``, ``policy.likelihood``,
``policy.novelty``, ``policy.repeats``, ``policy.daily``, ``policy.level``,
``policy.counts`` and ``policy.incident``. Each group validates its own fields.

    >>> p = AlertPolicy(z_half=4.0)
    >>> p.likelihood.z_half, p.band.target_miss_rate
    (4.0, 0.01)

What each parameter does and how its default was chosen: docs/scoring.md and, for the
figures behind them, BENCHMARKS.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any, TypeVar

from tcnad.detector.scoring.band import BandPolicy
from tcnad.detector.scoring.counts import CountsPolicy
from tcnad.detector.scoring.daily import DailyPolicy
from tcnad.detector.scoring.incident import IncidentPolicy
from tcnad.detector.scoring.level import LevelPolicy
from tcnad.detector.scoring.likelihood import LikelihoodPolicy
from tcnad.detector.scoring.novelty import NoveltyPolicy
from tcnad.detector.scoring.repeats import RepeatsPolicy

_P = TypeVar("_P")
GROUPS = ("incident", "band", "likelihood", "novelty", "repeats", "daily", "level", "counts")


@dataclass(frozen=True)
class AlertPolicy:
    """How bands are calibrated, how readings are scored, when they become alerts.

    Each field belongs to one group, documented there: ``IncidentPolicy`` (warmup,
    cooldown, alert_score), ``BandPolicy`` (target_miss_rate, calibration_gain,
    calibrate_after, min_scale, max_scale, shift_patience), ``LikelihoodPolicy``
    (surprise_cap, history_weight, z_half, echo_horizon), ``NoveltyPolicy``
    (range_tolerance, novelty_score, novelty_after, novelty_once),
    ``RepeatsPolicy`` (repeat_factor, repeats_weight), ``DailyPolicy`` (season_half, season_gate,
    season_rate), ``CountsPolicy`` (count_scale) and ``LevelPolicy`` (level_novelty,
    level_gate; it shares range_tolerance with the novelty group).
    """

    warmup: int = 200
    target_miss_rate: float = 0.01
    calibration_gain: float = 0.05
    calibrate_after: int = 32
    min_scale: float = 0.5
    max_scale: float = 4.0
    cooldown: int = 30
    shift_patience: int = 20
    surprise_cap: float = 40.0
    history_weight: float = 1e-3
    z_half: float = 8.0
    range_tolerance: float = 0.05
    novelty_score: float = 0.6
    novelty_after: int = 0
    novelty_once: bool = True
    echo_horizon: float = 300.0
    alert_score: float = 0.57
    repeat_factor: float = 2.0
    repeats_weight: float = 1.0
    season_half: float = 3.0
    season_gate: float = 0.5
    season_rate: float = 0.1
    count_scale: bool = True
    level_novelty: bool = True
    level_gate: float = 0.5

    def __post_init__(self) -> None:
        for name in GROUPS:
            getattr(self, name)  # each group validates its own fields as it is built

    def _group(self, cls: type[_P]) -> _P:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in asdict(self).items() if k in names})

    @cached_property
    def incident(self) -> IncidentPolicy:
        return self._group(IncidentPolicy)

    @cached_property
    def band(self) -> BandPolicy:
        return self._group(BandPolicy)

    @cached_property
    def likelihood(self) -> LikelihoodPolicy:
        return self._group(LikelihoodPolicy)

    @cached_property
    def novelty(self) -> NoveltyPolicy:
        return self._group(NoveltyPolicy)

    @cached_property
    def repeats(self) -> RepeatsPolicy:
        return self._group(RepeatsPolicy)

    @cached_property
    def daily(self) -> DailyPolicy:
        return self._group(DailyPolicy)

    @cached_property
    def level(self) -> LevelPolicy:
        return self._group(LevelPolicy)

    @cached_property
    def counts(self) -> CountsPolicy:
        return self._group(CountsPolicy)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
