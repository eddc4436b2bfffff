"""Die characterisation procedure: the die under the probes, into a wafer file.

Contacts, checks the contact (one re-contact) and the gate leakage, characterises every tile
(:mod:`procedures.measurement`), separates and records the die. The measurement itself lives in
:class:`procedures.measurement.DieCharacteriser`, shared with the wafer sweep.
"""

from __future__ import annotations

from pymeasure.experiment import Parameter

from labctl.core.errors import ConfigError
from labctl.core.wafer_map import ALL_DIE_NAMES, die_name
from labctl.station.station import Station
from procedures.base import MeasurementProcedure
from procedures.measurement import DieCharacteriser, TileReads, TileResult

__all__ = ["CharacteriseDieProcedure", "DieCharacteriser", "TileReads", "TileResult"]


class CharacteriseDieProcedure(MeasurementProcedure):
    """Characterise one die without stepping: the die the prober stands on.

    ``Die`` names it in the file; when empty, the prober's map position is asked at start.
    """

    die = Parameter("Die", default="", description="e.g. die_03_00; empty: ask the prober")

    def prepare(self, station: Station) -> None:
        if not self.die:
            col, row = self.retry_policy().call(lambda: station.prober.map_position,
                                                what="prober map position")
            self.die = die_name(col, row)

    def selected_dies(self) -> list[str]:
        name = str(self.die or "").strip()
        if name not in ALL_DIE_NAMES:
            raise ConfigError(f"unknown die {name!r}: give a die name such as die_03_00")
        return [name]

    def measure(self) -> None:
        name = self.selected_dies()[0]
        self.die_run().run(name, ALL_DIE_NAMES.index(name), position=0, total=1, step=False)
        self.emit("progress", 100.0)
