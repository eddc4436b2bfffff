"""Die maps straight from the simulator's ground truth, for development and benchmarks.

What a perfect characterisation at read bias `read_bias_V` would measure
(labctl.sim.truth_reads). Real runs read the HDF5 wafer file instead (labctl.training.wafer_maps).
"""

from __future__ import annotations

from labctl.core.geometry import DEFAULT_READ_VOLTAGE_V
from labctl.sim.wafer import VirtualWafer
from labctl.study.wafer import truth_die_maps as die_maps_from_truth
from labctl.training.maps import DieMaps


def wafer_maps_from_truth(
    wafer: VirtualWafer, read_bias_V: float = DEFAULT_READ_VOLTAGE_V
) -> list[DieMaps]:
    """Maps of every die of the virtual wafer, in wafer-map order."""
    return [die_maps_from_truth(die, read_bias_V) for die in wafer.dies()]
