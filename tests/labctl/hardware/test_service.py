"""Program and validate on the simulated station: read-back map stored, (a) and (b) agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hardware_helpers import SEED, trained_network, wafer_copy, weights_file

from labctl.core.errors import LabctlError
from labctl.hardware.deploy import load_weight_set
from labctl.hardware.service import (
    data_for,
    die_maps,
    input_bits_of,
    program_weights,
    validate_programmed,
)
from labctl.hardware.validate import Validation
from labctl.sim.embedded import start_sim_station
from labctl.sim.params import SimParams
from labctl.station.config import sim_station_config
from labctl.station.station import Station
from labctl.store.programmed import ProgrammedRun, read_programmed_run
from labctl.training.crossbar import die_responses
from labctl.training.evaluate import die_errors
from labctl.training.routing import apply_routing
from labctl.training.weights_io import WeightMetadata, save_weights
from procedures.program import WriteVerifySettings

DIE = "die_04_00"


def _program_and_validate(
    tmp_path: Path, params: SimParams | None, images: int
) -> tuple[Path, ProgrammedRun, Validation]:
    tmp_path.mkdir(exist_ok=True)
    wafer = wafer_copy(tmp_path)
    weights = load_weight_set(weights_file(routed=True))
    die = die_maps(wafer, DIE)
    with start_sim_station(seed=SEED, params=params) as sim, \
            Station.connect(sim_station_config(sim.resources)) as station:
        run = program_weights(station, wafer, weights, die, WriteVerifySettings())
        result = validate_programmed(station, wafer, weights, die, data_for(weights),
                                     in_situ_images=images)
        assert not sim.state.in_contact  # safe state after programming and inference
    return wafer, run, result


def test_program_store_and_validate_in_situ(tmp_path: Path) -> None:
    wafer, run, result = _program_and_validate(tmp_path, None, images=150)
    weights = load_weight_set(weights_file(routed=True))
    die = die_maps(wafer, DIE)
    data = data_for(weights)
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
    # (b) in situ ran on the die, through the resistive bit lines
    assert result.in_situ_images == 150
    assert result.in_situ_error is not None and result.agreement is not None
    assert result.in_situ_error < 0.4


def test_in_situ_agreement_is_a_measurement_of_the_bit_line_physics(tmp_path: Path) -> None:
    """Without wire resistance the die sums its cells almost as the emulation does (noise and
    intermittent cells only): agreement is high. With the default bit-line resistance the IR
    drop moves the sums: agreement falls measurably, on the same die, weights and images."""
    _, _, linear = _program_and_validate(tmp_path / "linear",
                                         SimParams(r_wire_bitline_ohm=0.0), images=150)
    _, _, resistive = _program_and_validate(tmp_path / "resistive", None, images=150)
    assert linear.agreement is not None and resistive.agreement is not None
    assert linear.agreement >= 0.95
    assert resistive.agreement < 0.95
    assert linear.agreement - resistive.agreement >= 0.04


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


def test_data_for_reads_multi_bit_weights_with_their_quantised_inputs(tmp_path: Path) -> None:
    net = trained_network()
    path = tmp_path / "two-bit.safetensors"
    save_weights(path, net, WeightMetadata(
        mode="statistics-aware", seed=SEED, layer_sizes=net.layer_sizes,
        preprocessing={"pool": 2, "binarise_threshold": 0.5, "input_bits": 2}))
    weights = load_weight_set(path)
    assert input_bits_of(weights) == 2
    levels = np.unique(data_for(weights).test_x.numpy())
    np.testing.assert_allclose(levels, [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-6)
    assert input_bits_of(load_weight_set(weights_file(routed=False))) == 1
