"""The default simulated station (four read channels) with the default settings (fast pass at
NPLC 0.01, adaptive re-reads at NPLC 1) against the simulator's truth, and the adaptive rule."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import run_sweep
from test_wafer_sweep import agreement_with_truth

from labctl.analysis.classify import classify_tile
from labctl.services.station_source import StationSource
from labctl.sim.embedded import start_sim_station
from labctl.station import array_ops
from labctl.station.config import sim_station_config
from labctl.station.station import Station
from procedures.adaptive import ambiguous_cells
from procedures.settings import CharacterisationSettings


@pytest.mark.parametrize(("seed", "dies"), [(2, "die_03_00,die_03_02"), (5, "die_07_03")])
def test_default_settings_on_the_default_station_agree_with_truth(
    tmp_path: Path, seed: int, dies: str, caplog: pytest.LogCaptureFixture
) -> None:
    defaults = CharacterisationSettings()
    assert defaults.adaptive and defaults.nplc == 0.01
    caplog.set_level(logging.INFO, logger="procedures.measurement")
    out = tmp_path / "wafer.h5"
    with StationSource.simulator(seed).open() as config, Station.connect(config) as station:
        assert len(station.sense_channels) == 4
        run = run_sweep(station, out, dies)
        assert run.error is None
    # The simulator is gone with the block: compare against a fresh one of the same seed.
    with start_sim_station(seed=seed) as sim:
        for name in dies.split(","):
            agree, cells, missed = agreement_with_truth(sim, out, name)
            assert agree / cells >= 0.999, (name, agree / cells)
            assert missed == 0, name
    rereads = [r.getMessage() for r in caplog.records if "ambiguous cells" in r.getMessage()]
    assert rereads, "no cell was measured again: the adaptive path did not run"


def test_parallel_and_single_channel_reads_agree() -> None:
    """A tile read by four channels at once equals the same tile read by one, cell for cell
    (within read noise at NPLC 10)."""
    tiles = {}
    for channels in (1, 4):
        with start_sim_station(seed=1, read_channels=channels) as sim:
            extra = sim.read_channel_resources if channels > 1 else None
            with Station.connect(sim_station_config(sim.resources, read_channels=extra)) as st:
                assert len(st.sense_channels) == channels
                st.prober.step_to_die(3, 0)
                st.prober.chuck.move_contact()
                tiles[channels] = [array_ops.read_tile_resistance_ohm(st, k, nplc=10.0)
                                   for k in (0, 1)]
                row = array_ops.read_row_resistance_ohm(st, 1, 7, nplc=10.0)
                np.testing.assert_allclose(row, tiles[channels][1][7], rtol=0.01)
    for one, four in zip(tiles[1], tiles[4], strict=True):
        healthy = one < 1e6
        same = np.isclose(four[healthy], one[healthy], rtol=0.01)
        # Intermittent cells read either state at random: a handful, never a misplaced group.
        assert np.count_nonzero(~same) <= 5


def test_ambiguous_cells_are_the_ones_near_a_decision() -> None:
    rng = np.random.default_rng(0)
    rows, cols, cycles = 40, 50, 2
    level_p = np.full((rows, cols), 4000.0) * np.exp(rng.normal(0, 0.03, (rows, cols)))
    level_ap = level_p * 2.0
    noise = 0.03

    def reads(level: np.ndarray) -> np.ndarray:
        return level * np.exp(rng.normal(0, noise, (cycles, rows, cols)))

    p, ap = reads(level_p), reads(level_ap)
    p[:, 0, 0] = ap[:, 0, 0] = 1000.0  # a clear short: not ambiguous
    p[1, 5, 5] *= 1.4  # one P read 40 % off: inconsistent across cycles
    clear = classify_tile(p, ap)
    mask = ambiguous_cells(p, ap, clear)
    assert mask[5, 5] and not mask[0, 0]
    assert mask.mean() < 0.01
