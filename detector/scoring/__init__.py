"""Per-reading scoring: each observation against the quantile band forecast for it, online
calibration of that band, an anomaly score in [0, 1], and the alert decision.

Pure and batched over streams. Each part is a module with its own parameters (a small
policy dataclass, one group of ``AlertPolicy``) and its own named, versioned slice of the
stream's state (``layout``):

- ``band``: the band calibrated to the stream and the tail probability of a reading;
- ``likelihood``: how improbable the reading is under that band, standardised by the
  stream's own surprise so far, and echo suppression;
- ``novelty``: a value beyond the range seen so far;
- ``level``: a new extreme of the recent level, in a stream whose level has been bounded;
- ``repeats``: a value stuck for longer than any run of repeats seen;
- ``daily``: a stretch of readings off the stream's time-of-day profile;
- ``counts``: a value whose readings have all been non-negative integers is scored on the
  square-root scale;
- ``incident``: warm-up and one alert per incident.

``combine.score_batch`` joins them; ``policy.AlertPolicy`` holds every parameter. What each
part is and why: docs/scoring.md.
"""

from tcnad.detector.scoring.band import tail_probability
from tcnad.detector.scoring.combine import (
    KNOWN_LAYOUTS,
    SLICES,
    new_state,
    score_batch,
    scoring_layout,
    state_size,
)
from tcnad.detector.scoring.counts import count_scale_of, from_count_scale
from tcnad.detector.scoring.daily import (
    DAY,
    RESIDUAL_CAP,
    SEASON_BINS,
    SEASON_MIN_COUNT,
    SEASON_SLOW,
    SEASON_WINDOW_DAYS,
    daily_pattern,
    season_size,
)
from tcnad.detector.scoring.incident import CALM_NEVER
from tcnad.detector.scoring.layout import Field, Slice, StatsLayout
from tcnad.detector.scoring.level import LEVEL_WINDOW, level_novelty, level_size
from tcnad.detector.scoring.likelihood import likelihood_score
from tcnad.detector.scoring.novelty import novelty
from tcnad.detector.scoring.policy import AlertPolicy
from tcnad.detector.scoring.repeats import repeats

__all__ = [
    "CALM_NEVER",
    "DAY",
    "KNOWN_LAYOUTS",
    "LEVEL_WINDOW",
    "RESIDUAL_CAP",
    "SEASON_BINS",
    "SEASON_MIN_COUNT",
    "SEASON_SLOW",
    "SEASON_WINDOW_DAYS",
    "SLICES",
    "AlertPolicy",
    "Field",
    "Slice",
    "StatsLayout",
    "count_scale_of",
    "daily_pattern",
    "from_count_scale",
    "level_novelty",
    "level_size",
    "likelihood_score",
    "new_state",
    "novelty",
    "repeats",
    "score_batch",
    "scoring_layout",
    "season_size",
    "state_size",
    "tail_probability",
]
