"""Where a run's instruments come from, decided once: a station file or the simulated station.

This is the one place above the VISA transport that knows a simulator exists. Everything a
command, the GUI or `reproduce` needs to know about the source (its station config, a label for
logs, the default wafer id) comes from a :class:`StationSource`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.core.errors import ConfigError
from labctl.station.config import (
    SIM_STATION_FILE,
    StationConfig,
    load_station_config,
    sim_station_config,
)
from labctl.store.truth import truth_wafer_id

if TYPE_CHECKING:
    from labctl.sim.faults import FaultSpec
    from labctl.sim.params import SimParams

#: Seed of the simulated wafer when none is given.
DEFAULT_SIM_SEED = 0


@dataclass(frozen=True)
class StationSource:
    """A station file, or the simulated station of ``sim_seed`` (with injected ``faults``, on a
    wafer of ``sim_params``: None = the defaults)."""

    station_file: Path | None = None
    sim_seed: int = DEFAULT_SIM_SEED
    faults: FaultSpec | None = None
    sim_params: SimParams | None = None
    #: the TOML file sim_params came from (named again for child commands), if any.
    sim_params_file: Path | None = None

    def __post_init__(self) -> None:
        if self.sim_seed < 0:
            raise ConfigError(f"simulator seed must be >= 0, got {self.sim_seed}")
        if self.station_file is not None and self.faults is not None and not self.faults.empty:
            raise ConfigError("fault injection applies only to the simulated station")
        if self.station_file is not None and self.sim_params is not None:
            raise ConfigError("simulator parameters apply only to the simulated station")

    @classmethod
    def simulator(
        cls,
        seed: int = DEFAULT_SIM_SEED,
        faults: FaultSpec | str | None = None,
        sim_params: SimParams | Path | None = None,
    ) -> StationSource:
        """The simulated station of ``seed``; ``faults`` may be a fault SPEC's text
        (docs/reliability.md), ``sim_params`` a TOML file of simulator parameters
        (data/sim-params/example.toml), both parsed here (ConfigError naming what is wrong)."""
        if isinstance(faults, str):
            from labctl.sim.faults import parse_fault_spec  # only the simulator needs it

            faults = parse_fault_spec(faults)
        params_file = None
        if isinstance(sim_params, Path):
            from labctl.sim.params_file import load_sim_params

            params_file, sim_params = sim_params, load_sim_params(sim_params)
        return cls(None, seed, faults, sim_params, params_file)

    @classmethod
    def from_file(cls, path: Path) -> StationSource:
        return cls(Path(path))

    def with_seed(self, seed: int) -> StationSource:
        """The same simulator on the wafer of ``seed`` (a station file is what it is)."""
        return replace(self, sim_seed=seed) if self.simulated else self

    def sim_params_record(self) -> dict[str, Any] | None:
        """Every simulator parameter this source's wafer is built from (defaults included), as
        plain JSON types, for the wafer file; None for a station file."""
        if not self.simulated:
            return None
        from labctl.sim.params import SimParams
        from labctl.sim.params_file import sim_params_to_dict

        return sim_params_to_dict(self.sim_params or SimParams())

    @property
    def simulated(self) -> bool:
        return self.station_file is None

    def static_config(self) -> StationConfig:
        """The station config without starting anything (the simulator's resources are the
        placeholders of ``data/stations/sim.toml``): for plans, limits and dry runs."""
        return load_station_config(self.station_file or SIM_STATION_FILE)

    @property
    def label(self) -> str:
        """How logs and summaries name the station."""
        if self.station_file is None:
            params = f", parameters {self.sim_params_file}" if self.sim_params_file else (
                ", custom parameters" if self.sim_params is not None else "")
            return f"simulated station (seed {self.sim_seed}{params})"
        return f"{self.static_config().name} ({self.station_file})"

    def default_wafer_id(self, output: Path) -> str:
        """The simulated wafer's id (which says its seed), or the output file's stem."""
        return truth_wafer_id(self.sim_seed) if self.simulated else Path(output).stem

    @contextmanager
    def open(self) -> Iterator[StationConfig]:
        """The station config to connect to; for the simulator, with the simulated station
        started and kept running until the caller leaves the block."""
        if self.station_file is not None:
            yield load_station_config(self.station_file)
            return
        from labctl.sim.embedded import start_sim_station  # only the simulator needs it

        channels = load_station_config(SIM_STATION_FILE).n_read_channels
        with start_sim_station(seed=self.sim_seed, faults=self.faults, params=self.sim_params,
                               read_channels=channels) as sim:
            yield sim_station_config(sim.resources, read_channels=sim.read_channel_resources)

