"""``AlertPolicy``: every parameter of the scoring, one frozen, validated record.

What each parameter does and how its default was chosen: docs/scoring.md and, for the
figures behind them, BENCHMARKS.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from tcnad.detector.errors import SpecError


@dataclass(frozen=True)
class AlertPolicy:
    """How bands are calibrated, how readings are scored, when they become alerts.

    warmup: readings scored before alerts (and non-zero anomaly scores) are allowed.
    target_miss_rate: long-run fraction of normal readings outside the calibrated band.
    calibration_gain: step of the adaptive conformal update of the log width scale.
    calibrate_after: readings before calibration updates start (early bands are rough).
    min_scale, max_scale: bounds of the width scale.
    cooldown: in-band readings that end an incident (one incident = one alert).
    shift_patience: consecutive misses after which a shift stops widening the band.
    surprise_cap: surprise ``-ln p`` is capped here (p below ~4e-18 counts the same).
    history_weight: floor of the exponential weight of the surprise statistics
        (they remember about ``1 / history_weight`` readings).
    z_half: standardised surprise at which the anomaly score is 0.5.
    range_tolerance: a value beyond the range seen so far by more than this fraction of
        the range is novel (<= 0: off).
    novelty_score: the least score of a novel reading.
    novelty_after: readings a stream must have been scored before range novelty counts (its
        range is still being learned before that).
    novelty_once: a run of consecutive novel readings scores ``novelty_score`` only at its
        first reading (the later ones score by their likelihood); False: every one does.
    repeat_factor: a value repeated exactly for more than this many times the longest run of
        repeats seen so far (and at least 3 readings) is novel too (0: off).
    echo_horizon: readings over which an incident's peak score decays by e (0: off).
    alert_score: least anomaly score (before echo suppression) of an out-of-band, stuck or
        off-pattern reading that starts or continues an incident (0: every out-of-band reading
        does). The default is the one label-derived number of the policy: the shipped
        model's NAB standard-profile threshold when it was set, rounded, and left there as
        the scoring changed (docs/decisions/alert-score-default.md).
    season_half: the daily-pattern score is ``e / (e + season_half)``, with ``e`` how many
        times the recent residual from the stream's time-of-day profile exceeds its usual
        size, minus one (0: off).
    season_gate: least strength of a stream's daily pattern (1 - residual from the profile /
        deviation from the mean) for the daily-pattern score to count.
    season_rate: weight of a reading in its time-of-day bin's level and spread.
    count_scale: score a value whose readings have all been non-negative integers (a count)
        on the variance-stabilising square-root scale (``count_scale_of``); False: always on
        the readings' own scale.
    level_novelty: score a new extreme of the average of the last ``LEVEL_WINDOW`` readings
        like a new extreme of a value (same ``range_tolerance``), where the stream is
        bounded (see ``level_gate``); False: off.
    level_gate: least fraction of the stream's readings so far that must have passed since
        the recent level last set a new extreme for a new one to count.
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
    novelty_score: float = 0.95
    novelty_after: int = 0
    novelty_once: bool = True
    echo_horizon: float = 300.0
    alert_score: float = 0.57
    repeat_factor: float = 2.0
    season_half: float = 3.0
    season_gate: float = 0.5
    season_rate: float = 0.1
    count_scale: bool = True
    level_novelty: bool = True
    level_gate: float = 0.5

    def __post_init__(self) -> None:
        if min(self.warmup, self.cooldown, self.calibrate_after, self.novelty_after) < 0:
            raise SpecError("warmup, cooldown, calibrate_after and novelty_after must be >= 0")
        if not 0.0 < self.target_miss_rate < 1.0:
            raise SpecError(f"target_miss_rate must be in (0, 1), got {self.target_miss_rate}")
        if not self.calibration_gain >= 0.0:
            raise SpecError("calibration_gain must be >= 0")
        if not 0.0 < self.min_scale <= 1.0 <= self.max_scale < math.inf:
            raise SpecError("need 0 < min_scale <= 1 <= max_scale < inf")
        if self.shift_patience < 1:
            raise SpecError("shift_patience must be >= 1")
        if not self.repeat_factor >= 0.0:
            raise SpecError("repeat_factor must be >= 0")
        if not (self.surprise_cap > 0.0 and self.z_half > 0.0 and self.echo_horizon >= 0.0):
            raise SpecError("surprise_cap and z_half must be > 0, echo_horizon >= 0")
        if not 0.0 < self.history_weight <= 1.0:
            raise SpecError("history_weight must be in (0, 1]")
        if not (0.0 <= self.novelty_score <= 1.0 and 0.0 <= self.alert_score <= 1.0):
            raise SpecError("novelty_score and alert_score must be in [0, 1]")
        if not (self.season_half >= 0.0 and 0.0 < self.season_rate <= 1.0):
            raise SpecError("season_half must be >= 0 and season_rate in (0, 1]")
        if not self.season_gate < 1.0:
            raise SpecError("season_gate must be < 1")
        if not 0.0 <= self.level_gate <= 1.0:
            raise SpecError(f"level_gate must be in [0, 1], got {self.level_gate}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
