"""The wafer file (docs/hdf5-format.md) as training input: complete dies only, as DieMaps.

Opening and validation are the store's (labctl.store.reader, read-only); this module only turns
each complete die's `r_parallel`, `r_antiparallel` and `defects` maps into conductance maps.
Pending, running and failed dies are skipped and reported. The file's root attribute `kind` says
whether the maps were measured (`measurement`) or are the simulator's ground truth
(`simulator_truth`); training records it and refuses truth unless asked (provenance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labctl.core.errors import DataFormatError, LabctlError
from labctl.store.layout import KIND_MEASUREMENT, KIND_TRUTH, DieStatus
from labctl.store.reader import open_wafer
from labctl.training.maps import DieMaps, TileMap

#: `WaferMaps.kind` of maps built in Python rather than read from a wafer file.
MAPS_IN_MEMORY = "in_memory"


@dataclass(frozen=True)
class WaferMaps:
    """The usable dies of one wafer, in wafer-map order."""

    wafer_id: str
    dies: tuple[DieMaps, ...]
    path: Path | None = None
    #: die name -> why it was left out (its status, and the failure reason if any).
    skipped: dict[str, str] = field(default_factory=dict)
    #: where the maps came from: a wafer file's `kind` (KIND_MEASUREMENT or KIND_TRUTH), or
    #: MAPS_IN_MEMORY for maps built in Python (tests, synthetic dies).
    kind: str = MAPS_IN_MEMORY

    @property
    def is_truth(self) -> bool:
        """True for the simulator's ground truth (not a measurement)."""
        return self.kind == KIND_TRUTH

    @property
    def is_measured(self) -> bool:
        return self.kind == KIND_MEASUREMENT

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dies)

    def die(self, name: str) -> DieMaps:
        """The named die; LabctlError naming the usable dies otherwise."""
        for die in self.dies:
            if die.name == name:
                return die
        reason = self.skipped.get(name)
        if reason is not None:
            raise LabctlError(f"{name} is not usable for training: {reason}")
        raise LabctlError(f"no die {name!r} in {self.path or self.wafer_id}")


def read_wafer_maps(path: str | Path, dies: Sequence[str] | None = None) -> WaferMaps:
    """Complete dies of the wafer file at `path` (all, or those named in `dies`)."""
    with open_wafer(path) as reader:
        wanted = list(reader.dies) if dies is None else list(dies)
        unknown = [name for name in wanted if name not in reader.dies]
        if unknown:
            raise LabctlError(f"{path}: no die(s) {', '.join(unknown)} in this file")
        maps: list[DieMaps] = []
        skipped: dict[str, str] = {}
        for name in wanted:
            record = reader.dies[name]
            if record.status is not DieStatus.COMPLETE:
                reason = record.status.value
                if record.failure_reason:
                    reason += f" ({record.failure_reason})"
                skipped[name] = reason
                continue
            tiles = []
            for data in reader.tiles(name):
                if data.defects is None:
                    raise DataFormatError(f"{path}: {name}/tile_{data.index} has no defect map")
                tiles.append(
                    TileMap.from_resistances(
                        data.r_parallel_ohm, data.r_antiparallel_ohm, data.defects
                    )
                )
            maps.append(DieMaps(name=name, tiles=tuple(tiles)))
        if not maps:
            raise LabctlError(f"{path}: no complete die to use ({len(skipped)} skipped)")
        return WaferMaps(
            wafer_id=reader.info.wafer_id,
            dies=tuple(maps),
            path=Path(path),
            skipped=skipped,
            kind=reader.info.kind,
        )
