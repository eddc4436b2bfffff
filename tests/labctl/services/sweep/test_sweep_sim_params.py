"""A wafer made from a simulator-parameter file: the sweep stores the values it was built from
and measures the statistics they describe."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl.core.defects import DefectCode
from labctl.core.errors import ConfigError
from labctl.services.station_source import StationSource
from labctl.services.sweep.service import SIM_PARAMS_ATTR, SweepService
from labctl.sim.params import SimParams
from labctl.training.wafer_maps import read_wafer_maps

DIES = "die_02_00,die_03_00,die_04_00"


def shorts(path: Path) -> int:
    maps = read_wafer_maps(path)
    return sum(int(np.count_nonzero(np.asarray(t.defects) == DefectCode.SHORT))
               for name in maps.names for t in maps.die(name).tiles)


@pytest.mark.slow
def test_a_sweep_finds_the_statistics_of_its_parameter_file(tmp_path: Path) -> None:
    params_file = tmp_path / "many-shorts.toml"
    # five times the median defect rate of a good die, all of them shorts
    params_file.write_text("defect_rate_good_median = 0.0175\ndefect_weight_short = 1.0\n"
                           "defect_weight_open = 0.0\ndefect_weight_stuck_p = 0.0\n"
                           "defect_weight_stuck_ap = 0.0\n")
    source = StationSource.simulator(5, sim_params=params_file)
    assert source.sim_params is not None and source.sim_params.defect_weight_short == 1.0
    assert str(params_file) in source.label
    many = tmp_path / "many.h5"
    SweepService(source).measure(many, DIES)
    default = tmp_path / "default.h5"
    SweepService(StationSource.simulator(5)).measure(default, DIES)

    with h5py.File(many) as h5:
        stored = json.loads(h5.attrs[SIM_PARAMS_ATTR])
    assert stored["defect_rate_good_median"] == 0.0175 and stored["defect_weight_open"] == 0.0
    assert stored["r_wire_bitline_ohm"] == SimParams().r_wire_bitline_ohm  # defaults kept too
    with h5py.File(default) as h5:
        assert json.loads(h5.attrs[SIM_PARAMS_ATTR])["defect_weight_short"] == 0.3
    # a good die's rate x5 and every defect a short (a bad die keeps its rate): clearly more
    # shorts than on the same dies of the default wafer (measured 1901 against 447)
    assert shorts(many) >= 3 * max(shorts(default), 1)


def test_simulator_parameters_are_refused_for_a_station_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only to the simulated station"):
        StationSource(Path("station.toml"), sim_params=SimParams())
    bad = tmp_path / "bad.toml"
    bad.write_text("r_wire_bitline_ohms = 0.1\n")
    with pytest.raises(ConfigError, match="unknown simulator parameter 'r_wire_bitline_ohms'"):
        StationSource.simulator(0, sim_params=bad)
