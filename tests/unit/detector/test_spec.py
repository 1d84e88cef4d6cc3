from __future__ import annotations

import json

import pytest

from tcnad.detector.errors import DetectorError, SpecError
from tcnad.detector.spec import TCNSpec


def test_reference_spec_receptive_field_and_rings() -> None:
    spec = TCNSpec()
    assert spec.receptive_field == 1021
    assert spec.n_convs == 16
    shapes = spec.ring_shapes
    assert shapes[0] == (2, 1) and shapes[1] == (2, 32)
    assert shapes[-1] == (256, 32)
    assert sum(length for length, _ in shapes) == 1020


def test_round_trip_through_json() -> None:
    spec = TCNSpec(n_inputs=2, channels=8, dilations=(1, 3), quantiles=(0.1, 0.5, 0.9))
    again = TCNSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_inputs": 0},
        {"kernel_size": 1},
        {"dilations": ()},
        {"dilations": (1, 0)},
        {"quantiles": (0.1, 0.9)},
        {"quantiles": (0.5, 0.9)},
        {"quantiles": (0.1, 0.5, 0.5, 0.9)},
        {"quantiles": (0.0, 0.5, 0.9)},
        {"dropout": 1.0},
        {"norm_alpha": 0.0},
    ],
)
def test_invalid_specs_raise_spec_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(SpecError):
        TCNSpec(**kwargs)  # type: ignore[arg-type]


def test_unknown_field_is_rejected() -> None:
    data = TCNSpec().to_dict() | {"colour": "blue"}
    with pytest.raises(DetectorError, match="colour"):
        TCNSpec.from_dict(data)
