"""GUI test fixtures: headless Qt, small synthetic wafer files, a simulated station."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis.classify import classify_tile
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.station.config import StationConfig, sim_station_config
from labctl.store import TileData, WaferFile
from labctl.testing.synthetic import synthetic_die

#: Small tiles keep synthetic files fast; the GUI handles any tile shape.
SMALL_TILES = ((24, 16), (8, 4))


def synthetic_tiles(seed: int, shapes: tuple[tuple[int, int], ...] = SMALL_TILES) -> list[TileData]:
    """Classified tiles of a synthetic die (complete, with thresholds)."""
    tiles = []
    for k, tile in enumerate(synthetic_die(seed, shapes)):
        c = classify_tile(tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
        tiles.append(TileData(index=k, r_parallel_ohm=c.r_parallel_ohm,
                              r_antiparallel_ohm=c.r_antiparallel_ohm, tmr=c.tmr,
                              defects=c.defects, write_failures=c.write_failures,
                              thresholds=c.thresholds))
    return tiles


@pytest.fixture(scope="session")
def tiles() -> list[TileData]:
    """The classified tiles of one small synthetic die."""
    return synthetic_tiles(seed=5)


@dataclass
class SyntheticWafer:
    """A measurement file written through the store's writer from synthetic reads."""

    path: Path
    writer: WaferFile
    begun: set[str] = field(default_factory=set)

    def complete(self, name: str, seed: int) -> None:
        self.writer.begin_die(name)
        for k, tile in enumerate(synthetic_die(seed, SMALL_TILES)):
            self.writer.write_tile(name, k, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
        self.writer.complete_die(name)

    def fail(self, name: str, reason: str) -> None:
        self.writer.begin_die(name)
        self.writer.fail_die(name, reason)

    def running(self, name: str, seed: int, rows_done: int) -> None:
        """Begin `name` and checkpoint tile 0 with its first `rows_done` rows read."""
        if name not in self.begun:
            self.writer.begin_die(name)
            self.begun.add(name)
        tile = synthetic_die(seed, SMALL_TILES)[0]
        reads_p = tile.reads_parallel_ohm.copy()
        reads_ap = tile.reads_antiparallel_ohm.copy()
        reads_p[:, rows_done:, :] = np.nan
        reads_ap[:, rows_done:, :] = np.nan
        self.writer.update_partial(name, 0, reads_p, reads_ap, rows_done)
        self.writer.checkpoint(name)


@pytest.fixture
def synthetic_wafer(tmp_path: Path) -> Iterator[SyntheticWafer]:
    path = tmp_path / "synthetic.h5"
    writer = WaferFile.create(path, "SYN-1", {"name": "test"}, {"settings": {}},
                              ["die_02_00", "die_03_00", "die_04_00", "die_05_00"])
    try:
        yield SyntheticWafer(path, writer)
    finally:
        writer.close()


@pytest.fixture
def sim_config() -> Iterator[tuple[SimStationServer, StationConfig]]:
    """A running embedded simulated station and its station configuration."""
    with start_sim_station(seed=1) as sim:
        yield sim, sim_station_config(sim.resources)
