"""Per-reading scoring: each observation against the quantile band forecast for it, online
calibration of that band, an anomaly score in [0, 1], and the alert decision.

Pure and batched over streams; a stream's scoring state is a slice of its ``stats`` vector
(``state_size(N)`` floats, laid out in ``layout``). A reading's anomaly score is the
largest of what its components say, each from the stream's own history:

- ``likelihood``: how improbable the reading is under the calibrated band (``band``),
  standardised by the stream's own surprise so far;
- ``novelty``: a value beyond the range seen so far;
- ``level``: a new extreme of the recent level, in a stream whose level has been bounded;
- ``repeats``: a value stuck for longer than any run of repeats seen;
- ``daily``: a stretch of readings off the stream's time-of-day profile.

``counts`` first puts a value whose readings have all been non-negative integers on the
square-root scale; ``combine.score_batch`` runs the components, applies warm-up, echo
suppression and the cooldown and decides alerts; ``policy.AlertPolicy`` holds every
parameter. What each part is and why: docs/scoring.md.
"""

from tcnad.detector.scoring.band import tail_probability
from tcnad.detector.scoring.combine import score_batch
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
from tcnad.detector.scoring.layout import CALM_NEVER, blocks, new_state, state_size
from tcnad.detector.scoring.level import LEVEL_WINDOW, level_novelty, level_size
from tcnad.detector.scoring.likelihood import likelihood_score
from tcnad.detector.scoring.novelty import novelty
from tcnad.detector.scoring.policy import AlertPolicy
from tcnad.detector.scoring.repeats import repeats

__all__ = [
    "CALM_NEVER",
    "DAY",
    "LEVEL_WINDOW",
    "RESIDUAL_CAP",
    "SEASON_BINS",
    "SEASON_MIN_COUNT",
    "SEASON_SLOW",
    "SEASON_WINDOW_DAYS",
    "AlertPolicy",
    "blocks",
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
    "season_size",
    "state_size",
    "tail_probability",
]
