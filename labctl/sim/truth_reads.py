"""What a perfect, noise-free characterisation of a simulated tile would read.

After writing P a working cell reads R_P + r_on, after writing AP R_AP(V) + r_on; stuck cells read
their stuck state both times, shorts and opens their own resistance. Test helpers and studies that
want measurement-like maps without running a sweep build them from this, so that they agree with
the simulator's own cell model.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from labctl.core.defects import DefectCode
from labctl.sim.physics import mtj_resistance_ohm
from labctl.sim.wafer import DieModel

FloatArray = NDArray[np.float64]


def written_reads_ohm(
    die: DieModel, tile: int, read_bias_V: float
) -> tuple[FloatArray, FloatArray]:
    """(after writing P, after writing AP) read resistances of every cell of ``tile``, MTJ plus
    transistor at its nominal gate voltage, at ``read_bias_V``; the die's state is not changed."""
    truth = die.truth(tile)
    v_half_V = die.params.tmr_v_half_V
    ends_ap_after_p = truth.defects == DefectCode.STUCK_AP
    ends_ap_after_ap = truth.defects != DefectCode.STUCK_P
    r_p = mtj_resistance_ohm(truth.r_p_ohm, truth.tmr0, ends_ap_after_p, read_bias_V, v_half_V)
    r_ap = mtj_resistance_ohm(truth.r_p_ohm, truth.tmr0, ends_ap_after_ap, read_bias_V, v_half_V)
    return r_p + truth.r_on_ohm, r_ap + truth.r_on_ohm
