"""Program and validate on the simulated station: read-back map stored, (a) and (b) agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hardware_helpers import SEED, wafer_copy, weights_file

from labctl.core.errors import LabctlError
from labctl.hardware.deploy import load_weight_set
from labctl.hardware.service import (
    data_for,
    die_maps,
    program_weights,
    validate_programmed,
)
from labctl.sim.embedded import start_sim_station
from labctl.station.config import sim_station_config
from labctl.station.station import Station
from labctl.store.programmed import read_programmed_run
from labctl.training.crossbar import die_responses
from labctl.training.evaluate import die_errors
from labctl.training.routing import apply_routing
from procedures.program import WriteVerifySettings

DIE = "die_04_00"


def test_program_store_and_validate_agree_in_situ(tmp_path: Path) -> None:
    wafer = wafer_copy(tmp_path)
    weights = load_weight_set(weights_file(routed=True))
    die = die_maps(wafer, DIE)
    data = data_for(weights)
    with start_sim_station(seed=SEED) as sim, \
            Station.connect(sim_station_config(sim.resources)) as station:
        run = program_weights(station, wafer, weights, die, WriteVerifySettings())
        result = validate_programmed(station, wafer, weights, die, data, in_situ_images=100)
        assert not sim.state.in_contact  # safe state after programming and inference

    stored = read_programmed_run(wafer, DIE)
    assert stored.name == run.name == "run_0001"
    assert stored.weights["sha256"] == weights.sha256
    assert stored.weights["file"] == weights.path.name
    assert stored.weights["mode"] == "statistics-aware"
    np.testing.assert_allclose(stored.tiles[0].r_read_ohm, run.tiles[0].r_read_ohm, rtol=1e-6)
    assert stored.summary()["new_defects"] == 0

    # (a) from the read-back map is what the characterisation map predicts for these weights
    responses = apply_routing(weights.routing, die_responses([die]))
    predicted, _ = die_errors(weights.net, data.test_x, data.test_y, responses)
    assert result.n_test == 10_000
    assert abs(result.emulated_error - float(predicted[0])) < 0.02
    assert result.emulated_error < 0.3
    # (b) in situ classifies (nearly) every image as the emulation does
    assert result.in_situ_images == 100
    assert result.agreement is not None and result.agreement >= 0.95
    assert result.in_situ_error is not None
    assert abs(result.in_situ_error - result.emulated_error_subset) <= 0.05


def test_a_die_that_forgot_its_run_is_refused_or_restored(tmp_path: Path) -> None:
    wafer = wafer_copy(tmp_path)
    weights = load_weight_set(weights_file(routed=False))
    die = die_maps(wafer, DIE)
    data = data_for(weights)
    with start_sim_station(seed=SEED) as sim, \
            Station.connect(sim_station_config(sim.resources)) as station:
        program_weights(station, wafer, weights, die, WriteVerifySettings())
    # a fresh simulator: the die holds its initial states, not the run
    with start_sim_station(seed=SEED) as sim, \
            Station.connect(sim_station_config(sim.resources)) as station:
        with pytest.raises(LabctlError, match="no longer holds run_0001"):
            validate_programmed(station, wafer, weights, die, data, in_situ_images=10)
        result = validate_programmed(station, wafer, weights, die, data, in_situ_images=30,
                                     restore=True)
    assert result.agreement is not None and result.agreement >= 0.9


def test_validation_needs_the_weights_the_die_holds(tmp_path: Path) -> None:
    wafer = wafer_copy(tmp_path)
    routed = load_weight_set(weights_file(routed=True))
    plain = load_weight_set(weights_file(routed=False))
    die = die_maps(wafer, DIE)
    with start_sim_station(seed=SEED) as sim, \
            Station.connect(sim_station_config(sim.resources)) as station:
        program_weights(station, wafer, plain, die, WriteVerifySettings())
    with pytest.raises(LabctlError, match="program these weights first"):
        validate_programmed(None, wafer, routed, die, data_for(routed))
    with pytest.raises(LabctlError, match="no die 'die_09_09'"):
        die_maps(wafer, "die_09_09")
