"""Write-verify on the simulated station: re-pulses, new defects, safe state on every exit."""

from __future__ import annotations

import numpy as np
import pytest
from sweep_helpers import SimFactory

from labctl.core.defects import DefectCode
from labctl.station import array_ops
from labctl.station.station import Station
from procedures.program import (
    TileTarget,
    WriteVerifySettings,
    holds_by_defect,
    on_die,
    program_die,
    write_verify_tile,
)

TILE = 1  # 100 x 10 cells


def _characterise(station: Station, defects: np.ndarray) -> TileTarget:
    """Midpoints from one P and one AP read of every cell (as the sweep measures them)."""
    array_ops.write_tile(station, TILE, "P")
    g_p = 1 / array_ops.read_tile_resistance_ohm(station, TILE, nplc=1.0)
    array_ops.write_tile(station, TILE, "AP")
    g_ap = 1 / array_ops.read_tile_resistance_ohm(station, TILE, nplc=1.0)
    rng = np.random.default_rng(3)
    return TileTarget(TILE, rng.random(g_p.shape) < 0.5, (g_p + g_ap) / 2, defects)



def test_nominal_pulses_program_every_working_cell(sim_station: SimFactory) -> None:
    sim, station = sim_station(0)
    die = sim.wafer.die(4, 0)
    defects = np.asarray(die.truth(TILE).defects, dtype=np.uint8)
    with on_die(station, "die_04_00"):
        target = _characterise(station, defects)
        outcome = write_verify_tile(station, target, WriteVerifySettings())
    working = defects == DefectCode.OK
    state = np.asarray(die.truth(TILE).state_ap)
    np.testing.assert_array_equal(state[working], target.target_ap[working])
    assert not outcome.new_defects.any()
    np.testing.assert_array_equal(
        outcome.missed[~working], ~holds_by_defect(defects, target.target_ap)[~working]
    )
    assert set(np.unique(outcome.pulses)) <= {1, 2}


def test_under_driven_pulses_are_repeated_and_failures_become_new_defects(
    sim_station: SimFactory,
) -> None:
    sim, station = sim_station(0)
    die = sim.wafer.die(4, 0)
    defects = np.asarray(die.truth(TILE).defects, dtype=np.uint8)
    working = defects == DefectCode.OK
    weak = {"amplitude_V": 0.43}
    with on_die(station, "die_04_00"):
        target = _characterise(station, defects)
        target = TileTarget(TILE, np.ones_like(target.target_ap), target.midpoint_S, defects)
        array_ops.write_tile(station, TILE, "P")
        once = write_verify_tile(station, target, WriteVerifySettings(max_pulses=1, **weak))
        array_ops.write_tile(station, TILE, "P")
        bounded = write_verify_tile(station, target, WriteVerifySettings(max_pulses=4, **weak))
    # One weak pulse leaves many cells in P; re-pulsing their rows recovers many (the
    # cells with the highest critical voltages never switch at this amplitude).
    assert once.new_defects.sum() > 50
    assert 0 < bounded.new_defects.sum() < 0.8 * once.new_defects.sum()
    assert bounded.pulses.max() == 4 and bounded.pulses.min() >= 1
    # Cells that never switched are recorded as stuck in the state they read (P).
    state = np.asarray(die.truth(TILE).state_ap)
    np.testing.assert_array_equal(bounded.new_defects, working & ~state)
    assert np.all(bounded.defects[bounded.new_defects] == DefectCode.STUCK_P)
    np.testing.assert_array_equal(bounded.defects[~working], defects[~working])


def test_program_die_ends_in_safe_state_also_on_error(sim_station: SimFactory) -> None:
    sim, station = sim_station(0)
    defects = np.zeros((100, 10), dtype=np.uint8)
    target = TileTarget(TILE, np.zeros((100, 10), bool), np.full((100, 10), 1e-4), defects)
    calls = iter(range(1000))

    def stop_midway() -> bool:
        return next(calls) == 20

    with pytest.raises(KeyboardInterrupt):
        program_die(station, "die_04_00", [target], WriteVerifySettings(), stop_midway)
    assert not sim.state.in_contact
    assert station.controller.routed is False
    assert station.read_smu.source_enabled is False
    program_die(station, "die_04_00", [target], WriteVerifySettings())
    assert not sim.state.in_contact
