"""The array types the detector's signatures use, named once, and the namespace that lets
the scoring run on either kind.

Shapes are stated where each is used, e.g. ``values: (B, N)``.

The per-reading scoring (``tcnad.detector.scoring``, ``normalize``, ``result.directions``)
is written once against the array API: each function takes its operations from
``namespace`` of its inputs, numpy itself for numpy arrays (the host path, as fast as plain
numpy) and ``array_api_compat``'s torch namespace for torch tensors (on the device the
tensors live on). ``Arr`` types those functions: a float64 or bool numpy array or torch
tensor.

    >>> import torch
    >>> namespace(np.zeros(2)) is np, namespace(torch.zeros(2)).__name__
    (True, 'array_api_compat.torch')
    >>> fmin(np.array([np.nan, 2.0]), np.array([1.0, np.nan])).tolist()
    [1.0, 2.0]
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from types import ModuleType
from typing import Any, TypeAlias

import array_api_compat
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]
# A numpy array or a torch tensor, in the functions that take either (see the module's
# docstring); their dtype and shape are stated where each is used.
Arr: TypeAlias = Any

__all__ = [
    "B8",
    "F32",
    "F64",
    "I64",
    "Arr",
    "constant",
    "copy",
    "device_of",
    "fmax",
    "fmin",
    "may_hold_true",
    "namespace",
    "quiet",
]


_NUMPY_OR_SCALAR = (np.ndarray, np.generic, int, float, bool)


def namespace(*arrays: Arr) -> ModuleType:
    """numpy for numpy arrays (and Python scalars), else the array API namespace of the
    arrays (``array_api_compat.torch`` for torch tensors)."""
    for a in arrays:  # the common case, numpy only, without building a list
        if a is None or isinstance(a, _NUMPY_OR_SCALAR):
            continue
        real = [x for x in arrays if x is not None and not isinstance(x, int | float | bool)]
        xp: ModuleType = array_api_compat.array_namespace(*real)
        return xp
    return np


def device_of(x: Arr) -> Any:
    """The device ``x`` lives on ("cpu" for numpy), for arrays made beside it."""
    return array_api_compat.device(x)


def copy(x: Arr) -> Arr:
    """A copy of ``x`` of its own kind."""
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def fmin(a: Arr, b: Arr) -> Arr:
    """Element-wise minimum that ignores NaN (``numpy.fmin``): NaN only where both are."""
    if isinstance(a, np.ndarray):
        return np.fmin(a, b)
    xp = namespace(a, b)
    return xp.where(xp.isnan(a), b, xp.where(xp.isnan(b), a, xp.minimum(a, b)))


def fmax(a: Arr, b: Arr) -> Arr:
    """Element-wise maximum that ignores NaN (``numpy.fmax``)."""
    if isinstance(a, np.ndarray):
        return np.fmax(a, b)
    xp = namespace(a, b)
    return xp.where(xp.isnan(a), b, xp.where(xp.isnan(b), a, xp.maximum(a, b)))


def constant(host: npt.NDArray[Any], like: Arr) -> Arr:
    """A small constant host array as an array beside ``like``: itself for numpy; for a
    tensor a copy on its device, made once per value and device (a copy made in the middle
    of a step would make the host wait for the device's queue)."""
    if isinstance(like, np.ndarray):
        return host
    return _constant(host.tobytes(), host.dtype.str, host.shape, like.device)


@functools.lru_cache(maxsize=64)
def _constant(data: bytes, dtype: str, shape: tuple[int, ...], device: Any) -> Arr:
    import array_api_compat.torch as torch_xp  # only where there are tensors

    host = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    return torch_xp.asarray(host, device=device)


def may_hold_true(mask: Arr) -> bool:
    """Whether bool ``mask`` may hold a True: ``mask.any()`` for numpy, always True for a
    tensor (reading a device's answer back would make the host wait for the device, so
    the work such a test guards is done whether or not it is needed)."""
    return bool(mask.any()) if isinstance(mask, np.ndarray) else True


@contextlib.contextmanager
def quiet(xp: ModuleType) -> Iterator[None]:
    """numpy's warnings on invalid values (comparisons with NaN) off; nothing for others."""
    if xp is np:
        with np.errstate(invalid="ignore"):
            yield
    else:
        yield
