"""Incidents: warm-up, and one alert per run of incident readings.

A reading is an incident reading when it is out of band, stuck or off its daily pattern
and, once warm, scores at least ``alert_score``; an incident is a run of such readings
less than ``cooldown`` readings apart, and it raises one alert, at its first reading.

State: ``INCIDENT``, ``[readings, calm, out_run]``: readings scored against a band so far,
readings since the last incident reading (``CALM_NEVER`` for a stream that had none) and
consecutive out-of-band readings. Parameters: ``IncidentPolicy``. Example: an incident
reading after a long calm alerts; the next one, two readings later, continues it::

    >>> p, block = IncidentPolicy(cooldown=2), INCIDENT.fresh(1)[None, :]
    >>> valid, miss = np.array([True]), np.array([[True]])
    >>> for worthy in (True, False, True):
    ...     alert = alerts(p, block, np.array([worthy]))
    ...     block, _ = advance(block, valid, miss, np.array([worthy]))
    ...     print(alert.tolist(), block.tolist())
    [True] [[1.0, 0.0, 1.0]]
    [False] [[2.0, 1.0, 2.0]]
    [False] [[3.0, 0.0, 3.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tcnad.detector.arrays import B8, F64
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import Field, Slice

CALM_NEVER = 1e9  # "calm" of a stream that never left its band
INCIDENT = Slice(
    "incident", 1, (Field("readings"), Field("calm", fresh=CALM_NEVER), Field("out_run"))
)


@dataclass(frozen=True)
class IncidentPolicy:
    """warmup: readings scored before alerts (and non-zero anomaly scores) are allowed.
    cooldown: in-band readings that end an incident (one incident = one alert).
    alert_score: least anomaly score (before echo suppression) of an out-of-band, stuck or
        off-pattern reading that starts or continues an incident (0: every out-of-band
        reading does); the one label-derived number of the policy
        (docs/decisions/alert-score-default.md)."""

    warmup: int = 200
    cooldown: int = 30
    alert_score: float = 0.57

    def __post_init__(self) -> None:
        if min(self.warmup, self.cooldown) < 0:
            raise SpecError("warmup and cooldown must be >= 0")
        if not 0.0 <= self.alert_score <= 1.0:
            raise SpecError("alert_score must be in [0, 1]")


def alerts(policy: IncidentPolicy, block: F64, worthy: B8) -> B8:
    """Incident readings ``worthy`` ``(B,)`` that start an incident. block: ``(B, 3)``."""
    out: B8 = worthy & (INCIDENT.split(block, 0)["calm"] >= policy.cooldown)
    return out


def advance(block: F64, valid: B8, miss: B8, incident: B8) -> tuple[F64, F64]:
    """The ``INCIDENT`` slice after one reading; valid, incident ``(B,)``, miss ``(B, N)``.
    Returns the new slice and the run of misses this reading ends or extends (whether or
    not the reading had a band)."""
    old = INCIDENT.split(block, 0)
    count, calm, run = old["readings"], old["calm"], old["out_run"]
    new = block.copy()
    out = INCIDENT.split(new, 0)  # views: the writes land in new
    out["readings"][:] = count + valid
    out["calm"][:] = np.where(
        valid, np.where(incident, 0.0, np.minimum(calm + 1.0, CALM_NEVER)), calm
    )
    new_run = np.where(miss.any(axis=1), run + 1.0, 0.0)
    out["out_run"][:] = np.where(valid, new_run, run)
    return new, new_run
