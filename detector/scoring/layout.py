"""Where each part of a stream's scoring state lies, and the state of a stream never scored.

The scoring state is a slice of the stream's ``stats`` vector, ``state_size(N)`` floats for
``N`` values per reading::

    [count, calm, run, log_scale_1..N | s_mean, s_var, echo | low_1..N, high_1..N |
     last_1..N, repeats, longest | daily profile (``season_size(N)``, see daily) |
     recent level (``level_size(N)``, see level) | count_1..N, novel]

- count: readings scored against a band so far;
- calm: readings since the last incident reading: out of band (or a stuck value, or off
  the daily pattern) and, once warm, with an anomaly score (before echo suppression) of at
  least ``alert_score``. An incident is a run of such readings less than ``cooldown``
  apart; it raises one alert, at its first reading;
- run: consecutive out-of-band readings (past ``shift_patience`` a persisting level shift is
  treated as the new normal: it stops widening the band);
- log_scale: per value, adaptive conformal width scale. Calibrated quantiles are
  ``median + exp(log_scale) * (q - median)``; after each reading ``log_scale += gain *
  (miss - target / N)``, so the long-run miss rate of the band tracks the target;
- s_mean, s_var: the stream's own running mean and variance of its surprise
  ``-ln(tail probability)``;
- echo: the decaying peak of recent scores (a reading scores only above it);
- low, high: the range of values seen so far;
- last, repeats, longest: the previous reading, how many readings in a row have repeated it
  exactly, and the longest such run that has ended (a stuck value);
- daily profile: per half hour of the day, the level and spread of the stream's readings
  there, and how far the last two hours or so strayed from them;
- recent level: the last ``LEVEL_WINDOW`` readings, the range of their average seen so far,
  and when that average last set a new extreme;
- count: per value, 1 while every reading of it has been a non-negative integer (see
  counts);
- novel: 1 if the last reading lay beyond the range seen before it (a run of such readings
  scores once, at its first).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tcnad.detector.arrays import F64
from tcnad.detector.scoring.daily import SEASON_BINS, season_size
from tcnad.detector.scoring.level import LEVEL_WINDOW, level_size
from tcnad.detector.scoring.likelihood import _MEAN, _VAR

CALM_NEVER = 1e9  # "calm" of a stream that never left its band
_NOVEL = -1  # the novelty flag is the scoring state's last float


def _count_flags(n_inputs: int) -> slice:
    """Where the per-value count flags lie in the scoring state (just before the novelty
    flag)."""
    return slice(-n_inputs - 1, _NOVEL)


class Blocks(NamedTuple):
    """Where the blocks of the scoring state start (log_scale starts at 3)."""

    lik: int  # s_mean, s_var, echo
    low: int  # low_1..N, then high_1..N
    rep: int  # last_1..N, repeats, longest
    season: int  # the daily profile
    level: int  # the recent level
    end: int  # the end of the recent level: the count flags and the novelty flag follow


def blocks(n_inputs: int) -> Blocks:
    """Offsets of the blocks of the scoring state for ``n_inputs`` values per reading."""
    n = n_inputs
    season = 8 + 4 * n
    level = season + season_size(n)
    return Blocks(3 + n, 6 + n, 6 + 3 * n, season, level, level + level_size(n))


def state_size(n_inputs: int) -> int:
    """Length of the scoring slice of a stream's stats."""
    return blocks(n_inputs).end + n_inputs + 1


def new_state(n_inputs: int, batch: int = 1) -> F64:
    """Scoring state of streams never scored: ``(batch, state_size(N))``."""
    out = np.zeros((batch, state_size(n_inputs)), dtype=np.float64)
    out[:, 1] = CALM_NEVER
    at = blocks(n_inputs)
    lik = at.lik
    out[:, lik + _MEAN] = 1.0  # the surprise of a calibrated forecast is Exp(1)
    out[:, lik + _VAR] = 1.0
    out[:, lik + 3 : lik + 3 + 3 * n_inputs] = np.nan  # no range or last value yet
    season = at.season
    out[:, season : season + 2] = np.nan  # no reading time or interval yet
    scalars = season + 2 + SEASON_BINS
    out[:, scalars : scalars + n_inputs] = 1.0  # recent residual: its usual size
    out[:, scalars + 2 * n_inputs : scalars + 3 * n_inputs] = np.nan  # no mean yet
    level = at.level
    window = LEVEL_WINDOW * n_inputs
    out[:, level + window + 1 : level + window + 1 + 2 * n_inputs] = np.nan  # no level range
    out[:, level + window + 1 + 2 * n_inputs] = -1.0  # no new extreme of the level yet
    out[:, _count_flags(n_inputs)] = 1.0  # a count until a reading says otherwise
    return out
