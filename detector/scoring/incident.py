"""Incidents: warm-up, one alert per run of incident readings, and its resolution.

A reading is an incident reading when it is out of band, stuck or off its daily pattern
and, once warm, scores at least ``alert_score``; an incident is a run of such readings
less than ``cooldown`` readings apart, and it raises one alert, at its first reading. The
reading that ends it, the ``cooldown``-th reading since its last incident reading, resolves
it (``resolve``): what ends an incident is what resolves its alert, so no later alert can
come before the resolution of the one before.

State: ``INCIDENT``, ``[readings, calm, out_run]``: readings scored against a band so far,
readings since the last incident reading (``CALM_NEVER`` for a stream that had none) and
consecutive out-of-band readings. Parameters: ``IncidentPolicy``. Example: an incident
reading after a long calm alerts; the next one, two readings later, continues it::

    >>> import numpy as np
    >>> p, block = IncidentPolicy(cooldown=2), INCIDENT.fresh(1)[None, :]
    >>> valid, miss = np.array([True]), np.array([[True]])
    >>> for worthy in (True, False, True):
    ...     alert = alerts(p, block, np.array([worthy]))
    ...     block, _ = advance(block, valid, miss, np.array([worthy]))
    ...     print(alert.tolist(), block.tolist())
    [True] [[1.0, 0.0, 1.0]]
    [False] [[2.0, 1.0, 2.0]]
    [False] [[3.0, 0.0, 3.0]]

State: ``OPENED``, ``[open, partition, offset, at, severity]``: whether an alert is open
(raised and not yet resolved), where the reading that raised it was (its id's partition and
offset; float64 holds offsets exactly below 2**53; NaN where the caller did not say), the
readings scored before it and its severity. Example: an alert at a stream's first reading,
at offset 1187 of partition 3, resolved by the second in-band reading after it, three
readings in all::

    >>> block = INCIDENT.fresh(1)[None, :]
    >>> opened, where = OPENED.fresh(1)[None, :], np.array([[3.0, 1187.0]])
    >>> for worthy in (True, False, False):
    ...     w = np.array([worthy])
    ...     alert = alerts(p, block, w)
    ...     new, _ = advance(block, valid, miss, w)
    ...     opened, res = resolve(p, opened, block, new, valid, w, alert, where, w * 1.5)
    ...     block, where = new, where + [0.0, 1.0]
    ...     print(alert.tolist(), res.resolved.tolist(), res.opening.tolist())
    [True] [False] [[nan, nan, nan, nan]]
    [False] [False] [[nan, nan, nan, nan]]
    [False] [True] [[3.0, 1187.0, 3.0, 1.5]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from tcnad.detector.arrays import Arr, copy, namespace
from tcnad.detector.errors import SpecError
from tcnad.detector.scoring.layout import NAN, Field, Slice

CALM_NEVER = 1e9  # "calm" of a stream that never left its band
INCIDENT = Slice(
    "incident", 1, (Field("readings"), Field("calm", fresh=CALM_NEVER), Field("out_run"))
)
OPENED = Slice(
    "opened",
    1,
    (
        Field("open"),
        Field("partition", fresh=NAN),
        Field("offset", fresh=NAN),
        Field("at"),
        Field("severity"),
    ),
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


def alerts(policy: IncidentPolicy, block: Arr, worthy: Arr) -> Arr:
    """Incident readings ``worthy`` ``(B,)`` that start an incident. block: ``(B, 3)``."""
    return worthy & (INCIDENT.split(block, 0)["calm"] >= policy.cooldown)


def advance(block: Arr, valid: Arr, miss: Arr, incident: Arr) -> tuple[Arr, Arr]:
    """The ``INCIDENT`` slice after one reading; valid, incident ``(B,)``, miss ``(B, N)``.
    Returns the new slice and the run of misses this reading ends or extends (whether or
    not the reading had a band)."""
    xp = namespace(block)
    old = INCIDENT.split(block, 0)
    count, calm, run = old["readings"], old["calm"], old["out_run"]
    new = copy(block)
    out = INCIDENT.split(new, 0)  # views: the writes land in new
    out["readings"][:] = count + valid
    out["calm"][:] = xp.where(
        valid, xp.where(incident, 0.0, xp.minimum(calm + 1.0, CALM_NEVER)), calm
    )
    new_run = xp.where(xp.any(miss, axis=1), run + 1.0, 0.0)
    out["out_run"][:] = xp.where(valid, new_run, run)
    return new, new_run


class Resolution(NamedTuple):
    """What ``resolve`` says of B readings: ``resolved`` ``(B,)``, the reading resolves an
    open alert; ``opening`` ``(B, 4)``, that alert's partition, offset, the readings scored
    from it to this one, both included, and its severity (NaN where nothing is resolved)."""

    resolved: Arr
    opening: Arr


def resolve(
    policy: IncidentPolicy,
    opened: Arr,
    block: Arr,
    new_block: Arr,
    valid: Arr,
    incident: Arr,
    alert: Arr,
    where: Arr,
    severity: Arr,
) -> tuple[Arr, Resolution]:
    """The ``OPENED`` slice after one reading and the alerts it resolves.

    opened: ``(B, 5)``; block, new_block: the ``INCIDENT`` slice before and after the
    reading; valid, incident, alert: ``(B,)`` as for ``advance`` and from ``alerts``; where:
    ``(B, 2)`` the reading's partition and offset (NaN: unknown); severity: ``(B,)``. An
    open alert is resolved by the scored reading that brings the readings since the last
    incident reading to ``cooldown``, or by a new alert (only where ``cooldown`` is 0 or
    was lowered)."""
    xp = namespace(opened)
    old = OPENED.split(opened, 0)
    before = INCIDENT.split(block, 0)["readings"]
    after = INCIDENT.split(new_block, 0)
    is_open = old["open"] > 0.5
    calm_enough = ~incident & (after["calm"] >= policy.cooldown)
    resolved = is_open & valid & (alert | calm_enough)
    seen = after["readings"] - old["at"]
    opening = xp.stack([old["partition"], old["offset"], seen, old["severity"]], axis=1)
    opening = xp.where(resolved[:, None], opening, NAN)
    new = copy(opened)
    out = OPENED.split(new, 0)
    out["open"][:] = xp.where(alert, 1.0, xp.where(resolved, 0.0, old["open"]))
    out["partition"][:] = xp.where(alert, where[:, 0], old["partition"])
    out["offset"][:] = xp.where(alert, where[:, 1], old["offset"])
    out["at"][:] = xp.where(alert, before, old["at"])
    out["severity"][:] = xp.where(alert, severity, old["severity"])
    return new, Resolution(resolved, opening)
