"""The numpy array types the detector's signatures use, named once.

Shapes are stated where each is used, e.g. ``values: (B, N)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]

__all__ = ["B8", "F32", "F64", "I64"]
