"""Die maps straight from the simulator's ground truth, for development and benchmarks.

What a perfect characterisation at read bias `read_bias_V` would measure
(labctl.sim.truth_reads). Real runs read the HDF5 wafer file instead (labctl.training.wafer_maps).
"""

from __future__ import annotations

from labctl.core.geometry import DEFAULT_READ_VOLTAGE_V
from labctl.sim.truth_reads import written_reads_ohm
from labctl.sim.wafer import DieModel, VirtualWafer
from labctl.training.maps import DieMaps, TileMap


def die_maps_from_truth(die: DieModel, read_bias_V: float = DEFAULT_READ_VOLTAGE_V) -> DieMaps:
    """The die's measured-equivalent maps (no read noise), transistor at its nominal gate."""
    tiles = []
    for k in range(die.n_tiles):
        r_written_p, r_written_ap = written_reads_ohm(die, k, read_bias_V)
        tiles.append(TileMap.from_resistances(r_written_p, r_written_ap, die.truth(k).defects))
    return DieMaps(name=die.name, tiles=tuple(tiles))


def wafer_maps_from_truth(
    wafer: VirtualWafer, read_bias_V: float = DEFAULT_READ_VOLTAGE_V
) -> list[DieMaps]:
    """Maps of every die of the virtual wafer, in wafer-map order."""
    return [die_maps_from_truth(die, read_bias_V) for die in wafer.dies()]
