"""The likelihood score of a reading's surprise, and echo suppression.

The anomaly score rises with how improbable a reading is *for this stream*: its surprise
``-ln(tail probability)`` is standardised by the stream's own running mean and variance of
surprise (an online anomaly likelihood, as in Numenta's HTM detector), so a stream whose
forecasts are always rough does not drown the others in alarms. After a high score, the
following readings score only where they exceed the decaying peak (``echo_horizon``): one
incident, one peak.

State: ``[s_mean, s_var, echo]``, the block at ``layout.blocks(N).lik``.
"""

from __future__ import annotations

import math

import numpy as np

from tcnad.detector.arrays import F64
from tcnad.detector.scoring.policy import AlertPolicy

_MEAN, _VAR, _ECHO = 0, 1, 2  # offsets inside the likelihood block (after log_scale)


def likelihood_score(policy: AlertPolicy, surprise: F64, lik: F64, count: F64) -> tuple[F64, F64]:
    """Surprise standardised by the stream's own history, squashed into [0, 1).

    surprise, count: ``(B,)``; lik: ``(B, 2)`` [mean, var] before this reading. Returns the
    score ``z+ / (z+ + z_half)`` and the updated [mean, var].
    """
    mean, var = lik[:, _MEAN], lik[:, _VAR]
    z = np.maximum((surprise - mean) / np.sqrt(np.maximum(var, 1e-2)), 0.0)
    w = np.maximum(1.0 / (count + 2.0), policy.history_weight)
    d = surprise - mean
    new = np.stack([mean + w * d, (1.0 - w) * (var + w * d * d)], axis=1)
    return z / (z + policy.z_half), new


def _echo(policy: AlertPolicy, score: F64, echo: F64) -> tuple[F64, F64]:
    """Keep a score only above the decaying peak of recent scores. ``(B,)`` each."""
    if policy.echo_horizon <= 0:
        return score, echo
    decayed = echo * math.exp(-1.0 / policy.echo_horizon)
    return np.where(score > decayed, score, 0.0), np.maximum(decayed, score)
