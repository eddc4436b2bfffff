"""Die maps straight from the simulator's ground truth, for development and benchmarks.

What a perfect characterisation at read bias `read_bias_V` would measure: after writing P a
working cell reads R_P + r_on, after writing AP R_AP(V) + r_on; stuck cells read their stuck
state both times, shorts and opens their own resistance. Real runs read the HDF5 wafer file
instead (labctl.training.wafer_maps); only this module imports the simulator.
"""

from __future__ import annotations

from labctl.core.defects import DefectCode
from labctl.sim.physics import mtj_resistance_ohm
from labctl.sim.wafer import DieModel, VirtualWafer
from labctl.training.maps import DieMaps, TileMap

#: The sweep's default read bias (procedures/settings.py).
DEFAULT_READ_BIAS_V = 0.1


def die_maps_from_truth(die: DieModel, read_bias_V: float = DEFAULT_READ_BIAS_V) -> DieMaps:
    """The die's measured-equivalent maps (no read noise), transistor at its nominal gate."""
    tiles = []
    for k in range(die.n_tiles):
        truth = die.truth(k)
        v_half = die.params.tmr_v_half_V
        stuck_p = truth.defects == DefectCode.STUCK_P
        stuck_ap = truth.defects == DefectCode.STUCK_AP
        r_written_p = mtj_resistance_ohm(truth.r_p_ohm, truth.tmr0, stuck_ap, read_bias_V, v_half)
        r_written_ap = mtj_resistance_ohm(truth.r_p_ohm, truth.tmr0, ~stuck_p, read_bias_V, v_half)
        tiles.append(
            TileMap.from_resistances(
                r_written_p + truth.r_on_ohm, r_written_ap + truth.r_on_ohm, truth.defects
            )
        )
    return DieMaps(name=die.name, tiles=tuple(tiles))


def wafer_maps_from_truth(
    wafer: VirtualWafer, read_bias_V: float = DEFAULT_READ_BIAS_V
) -> list[DieMaps]:
    """Maps of every die of the virtual wafer, in wafer-map order."""
    return [die_maps_from_truth(die, read_bias_V) for die in wafer.dies()]
