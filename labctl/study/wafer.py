"""A point's wafer: the simulator's truth maps (default) or a sweep through emulated instruments.

Truth maps are what a perfect, noise-free characterisation at the sweep's read bias would give
(labctl.sim.truth_reads, the simulator's own cell model): after writing P a working cell reads
R_P(V) + R_on, after writing AP R_AP(V) + R_on; stuck cells read their stuck state both times,
shorts and opens their own resistance. Dies with a gross gate short are left out, as the sweep
fails them. A measured wafer is swept by the sweep service
(labctl.services.sweep) from a simulated station started with the point's parameters, then read
like any wafer file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from labctl.core.errors import LabctlError
from labctl.core.geometry import DEFAULT_READ_VOLTAGE_V
from labctl.sim.params import SimParams
from labctl.sim.truth_reads import written_reads_ohm
from labctl.sim.wafer import DieModel, VirtualWafer
from labctl.training.maps import DieMaps, TileMap
from labctl.training.wafer_maps import WaferMaps, read_wafer_maps

TRUTH_SOURCE = "simulator truth (noise-free maps at 0.1 V read bias; not a measurement)"
MEASURED_SOURCE = "measured sweep (emulated instruments, labctl.services.sweep)"


def truth_die_maps(die: DieModel, read_bias_V: float = DEFAULT_READ_VOLTAGE_V) -> DieMaps:
    """The die's maps as a perfect characterisation would measure them (no read noise,
    transistor at its nominal gate). Tests use it too, through labctl.testing.sim_maps."""
    tiles = []
    for k in range(die.n_tiles):
        r_p, r_ap = written_reads_ohm(die, k, read_bias_V)
        tiles.append(TileMap.from_resistances(r_p, r_ap, die.truth(k).defects))
    return DieMaps(name=die.name, tiles=tuple(tiles))


def truth_wafer(seed: int, params: SimParams, dies: Sequence[str]) -> WaferMaps:
    """Truth maps of the named dies of the virtual wafer `seed` (gross gate shorts skipped)."""
    wafer = VirtualWafer(seed, params)
    wanted = set(dies)
    maps: list[DieMaps] = []
    skipped: dict[str, str] = {}
    for die in wafer.dies():
        if die.name not in wanted:
            continue
        if die.gross_short:
            skipped[die.name] = "gross gate short (a sweep fails this die)"
            continue
        maps.append(truth_die_maps(die))
    if not maps:
        raise LabctlError(f"wafer seed {seed}: none of the {len(dies)} selected dies is usable")
    return WaferMaps(wafer_id=f"sim-seed-{seed}", dies=tuple(maps), skipped=skipped)


def measured_wafer(seed: int, params: SimParams, dies: Sequence[str], folder: Path) -> WaferMaps:
    """Sweep the named dies of a simulated station (seed, params) with the sweep service into
    `folder`/sim-seed-<seed>.h5, then read the complete dies."""
    from labctl.services.sweep.service import SweepService
    from labctl.sim.embedded import start_sim_station
    from labctl.station.config import sim_station_config
    from labctl.store.truth import truth_wafer_id

    out = Path(folder) / f"{truth_wafer_id(seed)}.h5"
    with start_sim_station(seed=seed, params=params) as sim:
        service = SweepService(station_config=sim_station_config(sim.resources))
        service.measure(out, list(dies), progress_stream=io.StringIO(), announce=lambda _: None)
    return read_wafer_maps(out)
