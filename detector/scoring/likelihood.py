"""The likelihood score of a reading's surprise, and echo suppression.

The anomaly score rises with how improbable a reading is *for this stream*: its surprise
``-ln(tail probability)`` is standardised by the stream's own running mean and variance of
surprise (an online anomaly likelihood, as in Numenta's HTM detector), so a stream whose
forecasts are always rough does not drown the others in alarms. After a high score, the
following readings score only where they exceed the decaying peak (``echo_horizon``): one
incident, one peak.

State: ``LIKELIHOOD``, ``[mean, var, echo]``. Parameters: ``LikelihoodPolicy``. Example: a
surprise far above a stream's usual one scores near 1, a usual one 0::

    >>> import numpy as np
    >>> p = LikelihoodPolicy()
    >>> s = surprise(p, np.array([1e-12, 0.5]))
    >>> score, stats = likelihood_score(p, s, np.array([[1.0, 1.0]] * 2), np.zeros(2))
    >>> score.round(3)
    array([0.769, 0.   ])
    >>> _echo(p, np.array([0.5, 0.9]), np.array([0.8, 0.8]))[0]
    array([0. , 0.9])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tcnad.detector.arrays import Arr, namespace
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import Field, Slice

# The surprise of a calibrated forecast is Exp(1): mean and variance 1.
LIKELIHOOD = Slice(
    "likelihood", 1, (Field("mean", fresh=1.0), Field("var", fresh=1.0), Field("echo"))
)
LEAST_P = 1e-300  # tail probabilities below this count the same (no log of 0)
LEAST_VAR = 1e-2  # the surprise variance divided by is at least this


@dataclass(frozen=True)
class LikelihoodPolicy:
    """How surprise becomes a score.

    surprise_cap: surprise ``-ln p`` is capped here (p below ~4e-18 counts the same).
    history_weight: floor of the exponential weight of the surprise statistics
        (they remember about ``1 / history_weight`` readings).
    z_half: standardised surprise at which the score is 0.5.
    echo_horizon: readings over which an incident's peak score decays by e (0: off).
    """

    surprise_cap: float = 40.0
    history_weight: float = 1e-3
    z_half: float = 8.0
    echo_horizon: float = 300.0

    def __post_init__(self) -> None:
        if not (self.surprise_cap > 0.0 and self.z_half > 0.0 and self.echo_horizon >= 0.0):
            raise SpecError("surprise_cap and z_half must be > 0, echo_horizon >= 0")
        if not 0.0 < self.history_weight <= 1.0:
            raise SpecError("history_weight must be in (0, 1]")


def surprise(policy: LikelihoodPolicy, tail_p: Arr) -> Arr:
    """``-ln(tail probability)``, capped at ``surprise_cap``. ``(B,)``."""
    xp = namespace(tail_p)
    return xp.minimum(-xp.log(xp.maximum(tail_p, LEAST_P)), policy.surprise_cap)


def likelihood_score(
    policy: LikelihoodPolicy, surprise: Arr, lik: Arr, count: Arr
) -> tuple[Arr, Arr]:
    """Surprise standardised by the stream's own history, squashed into [0, 1).

    surprise, count: ``(B,)``; lik: ``(B, 2)`` [mean, var] before this reading. Returns the
    score ``z+ / (z+ + z_half)`` and the updated [mean, var].
    """
    xp = namespace(surprise, lik)
    mean, var = lik[:, 0], lik[:, 1]
    z = xp.maximum((surprise - mean) / xp.sqrt(xp.maximum(var, LEAST_VAR)), 0.0)
    w = xp.maximum(1.0 / (count + 2.0), policy.history_weight)
    d = surprise - mean
    new = xp.stack([mean + w * d, (1.0 - w) * (var + w * d * d)], axis=1)
    return z / (z + policy.z_half), new


def _echo(policy: LikelihoodPolicy, score: Arr, echo: Arr) -> tuple[Arr, Arr]:
    """Keep a score only above the decaying peak of recent scores. ``(B,)`` each."""
    if policy.echo_horizon <= 0:
        return score, echo
    xp = namespace(score, echo)
    decayed = echo * math.exp(-1.0 / policy.echo_horizon)
    return xp.where(score > decayed, score, 0.0), xp.maximum(decayed, score)
