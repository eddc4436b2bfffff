"""Conductance of a cell from a station reading, with capped (no current) readings as 0 S.

Training, write-verify and hardware validation all turn measured resistances into conductances;
they must agree on what counts as open, so the rule lives here, next to the classifier.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.core.geometry import READ_CAP_OHM


def conductance_from_resistance_S(r_ohm: ArrayLike) -> NDArray[np.float64]:
    """1 / R; non-finite, non-positive or capped (>= READ_CAP_OHM) readings give 0 S."""
    r = np.asarray(r_ohm, dtype=np.float64)
    usable = np.isfinite(r) & (r > 0) & (r < READ_CAP_OHM)
    g = np.zeros_like(r)
    np.divide(1.0, r, out=g, where=usable)
    return g
