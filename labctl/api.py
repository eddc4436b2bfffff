"""labctl from Python: stations, sweeps, wafer files as pandas tables, training, programming
and validation, for scripts and notebooks (tutorial: docs/scripting.md).

Every function here is a thin layer over the service layer that the command line uses, so a
script gets the same checks (one :class:`~labctl.core.errors.LabctlError` naming what is wrong,
before anything is touched), the same log file beside the wafer file and the same safe state of
the station at the end. Units follow labctl's names: ``_V``, ``_s``, ``_ohm``; yields are
percentages (``yield_pct``), as on the command line.

Training, programming and validation need the ``train`` extra (torch); they import it only when
called, so a base install can ``import labctl.api`` and sweep.

>>> from labctl import api
>>> station = api.simulator(seed=1)
>>> api.sweep(station, "w.h5", dies=["die_03_00"]).finished        # doctest: +SKIP
True
>>> api.open_wafer("w.h5").dies()[["status", "yield_pct"]]          # doctest: +SKIP
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labctl.core.defects import DefectCode
from labctl.core.errors import ConfigError, LabctlError
from labctl.services.station_source import DEFAULT_SIM_SEED, StationSource
from labctl.services.sweep.plan import SweepRequest
from labctl.services.sweep.service import SweepControl, SweepOutcome, SweepResult, SweepService
from labctl.services.sweep.spec import sweep_spec
from labctl.store.layout import DieStatus
from labctl.store.reader import WaferInfo, WaferReader
from labctl.store.truth import SIM_WAFER_PREFIX

if TYPE_CHECKING:
    from labctl.sim.faults import FaultSpec

__all__ = [
    "DieStatus",
    "StationSource",
    "SweepControl",
    "SweepOutcome",
    "SweepResult",
    "Wafer",
    "open_station",
    "open_wafer",
    "program",
    "simulator",
    "sweep",
    "sweep_settings",
    "train",
    "validate",
]

#: Columns of :meth:`Wafer.dies` that hold defect counts, one per defect class.
DEFECT_COLUMNS: tuple[str, ...] = tuple(
    f"n_{c.name.lower()}" for c in DefectCode if c is not DefectCode.OK
)


# ---- stations ------------------------------------------------------------------------------


def simulator(seed: int = DEFAULT_SIM_SEED, faults: str | FaultSpec | None = None) -> StationSource:
    """The embedded simulated station holding the virtual wafer of ``seed``; ``faults`` injects
    instrument faults (a SPEC as ``labctl sweep --faults`` takes, docs/reliability.md).

    Nothing starts yet: each sweep or programming run starts the simulator and stops it again.
    """
    return StationSource.simulator(seed, faults)


def open_station(
    station_file: str | Path | None = None,
    *,
    sim_seed: int | None = None,
    faults: str | FaultSpec | None = None,
) -> StationSource:
    """The station described by ``station_file`` (a TOML file, docs/howto.md), or, without a
    file, the simulated station of ``sim_seed`` (default 0).

    The file is read and checked here (ConfigError naming the bad entry); the instruments are
    contacted only when something runs on the station.
    """
    if station_file is None:
        return simulator(DEFAULT_SIM_SEED if sim_seed is None else sim_seed, faults)
    if sim_seed is not None or faults is not None:
        raise ConfigError("sim_seed and faults apply to the simulated station, not a station file")
    source = StationSource.from_file(Path(station_file))
    source.static_config()  # a bad file is reported now, not at the first sweep
    return source


# ---- sweeps --------------------------------------------------------------------------------


def sweep_settings() -> pd.DataFrame:
    """The settings :func:`sweep` accepts, one row each: unit, default, bounds, whether it
    defines what is measured (fixed for a file, kept on resume) and its description."""
    rows = [
        {
            "name": s.name,
            "unit": s.units,
            "type": s.kind.__name__,
            "default": s.default,
            "minimum": s.bounds[0] if s.bounds else None,
            "maximum": s.bounds[1] if s.bounds else None,
            "measured": s.measured,
            "station_default": s.station_default,
            "description": s.description,
        }
        for s in sweep_spec()
    ]
    return pd.DataFrame(rows).set_index("name")


def sweep(
    station: StationSource,
    out: str | Path,
    *,
    dies: str | Sequence[str] | None = None,
    resume: bool = False,
    progress: bool = False,
    control: SweepControl | None = None,
    listeners: Sequence[Callable[[str, Any], None]] = (),
    **settings: Any,
) -> SweepResult:
    """Sweep ``dies`` (names like ``"die_03_00"``, default all 36) of the wafer on ``station``
    into the wafer file ``out``, or with ``resume=True`` finish that file with its own settings.

    ``settings`` are the sweep's settings by name (``nplc=1.0``, ``cycles=3``,
    ``read_voltage=0.1``: see :func:`sweep_settings`); the ones not given take the station's
    operating point or their default. Everything is checked before anything is touched
    (LabctlError naming the problem, no file written). ``progress`` shows the console progress
    on stderr; ``control`` lets another thread pause or abort; ``listeners`` hear every event
    ``(topic, record)``. A log file is written beside ``out``.

    Returns how the run ended: ``.finished``, ``.outcome`` and the per-die ``.summary``. Dies
    that failed (an instrument error, a lost contact) are recorded as failed in the file; a
    resume measures them again.
    """
    if not isinstance(station, StationSource):
        raise ConfigError("station must come from labctl.api.simulator() or open_station()")
    service = SweepService(station)
    request = SweepRequest(Path(out), dies, dict(settings), resume=resume)
    plan = service.plan(request)
    return service.run(
        plan, control=control, listeners=listeners,
        progress_stream=sys.stderr if progress else None,
    )


# ---- wafer files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Wafer:
    """A wafer file (a measurement or the simulator's truth), read on demand.

    No HDF5 handle stays open between calls: each table is read from the file as it is then
    (a running sweep publishes whole new files, so a read never sees half a die).
    """

    path: Path
    info: WaferInfo

    @property
    def wafer_id(self) -> str:
        return self.info.wafer_id

    @property
    def settings(self) -> dict[str, Any]:
        """The characterisation settings the file was measured with, by SI name
        (``nplc``, ``read_voltage_V``, ``cycles``, ...); empty for a truth file."""
        return dict(self.info.procedure.get("settings", {}))

    @property
    def sim_seed(self) -> int | None:
        """The simulator seed of a simulated wafer (its id ``sim-seed-N``), else None."""
        return sim_seed_of(self.wafer_id)

    def dies(self) -> pd.DataFrame:
        """One row per die of the file, indexed by die name in wafer-map order.

        Columns: ``col``, ``row``, ``status`` (complete, failed, pending, running, skipped),
        ``yield_pct`` (ok cells, % of cells), ``cells``, ``ok``, one ``n_<class>`` count per
        defect class (:data:`DEFECT_COLUMNS`), ``intermittent`` (ok cells that missed a write),
        ``median_r_parallel_ohm``, ``median_r_antiparallel_ohm``, ``median_tmr`` (over ok
        cells), ``started``, ``finished``, ``failure_reason``. The numbers are NaN for a die
        that is not complete.
        """
        from labctl.reports.summary import summarize_wafer

        with WaferReader(self.path) as reader:
            summary = summarize_wafer(reader)
        rows = []
        for name, die in summary.dies.items():
            s = die.stats
            rows.append({
                "die": name,
                "col": die.col,
                "row": die.row,
                "status": die.status.value,
                "yield_pct": 100.0 * s.yield_fraction if s else np.nan,
                "cells": s.cells if s else np.nan,
                "ok": s.ok if s else np.nan,
                **{f"n_{k}": (s.defects[k] if s else np.nan) for k in _DEFECT_KEYS},
                "intermittent": s.intermittent if s and s.intermittent is not None else np.nan,
                "median_r_parallel_ohm": _float(s.median_r_parallel_ohm if s else None),
                "median_r_antiparallel_ohm": _float(s.median_r_antiparallel_ohm if s else None),
                "median_tmr": _float(s.median_tmr if s else None),
                "started": die.started or None,
                "finished": die.finished or None,
                "failure_reason": die.failure_reason or None,
            })
        table = pd.DataFrame(rows, columns=_DIE_COLUMNS).set_index("die")
        return table.astype({c: "Int64" for c in ("cells", "ok", *DEFECT_COLUMNS,
                                                   "intermittent")})

    def cells(self, die: str) -> pd.DataFrame:
        """One row per cell of ``die``: ``tile``, ``row``, ``col`` (within the tile),
        ``r_parallel_ohm``, ``r_antiparallel_ohm``, ``tmr``, ``defect`` (ok, short, open,
        stuck_p, stuck_ap; missing in a partial tile) and, for measurements, ``write_failures``
        (writes that missed their state). Rows of a partial tile not yet measured are NaN.
        LabctlError if the file has no such die."""
        frames = []
        with WaferReader(self.path) as reader:
            if die not in reader.dies:
                raise LabctlError(f"{self.path}: no die {die!r} in this file "
                                  "(dies are named like die_03_00)")
            for tile in reader.tiles(die):
                rows, cols = np.indices(tile.shape)
                columns: dict[str, Any] = {
                    "tile": np.full(rows.size, tile.index),
                    "row": rows.ravel(),
                    "col": cols.ravel(),
                    "r_parallel_ohm": tile.r_parallel_ohm.ravel(),
                    "r_antiparallel_ohm": tile.r_antiparallel_ohm.ravel(),
                    "tmr": tile.tmr.ravel(),
                    "defect": pd.Categorical.from_codes(
                        tile.defects.ravel().astype(np.int64), categories=_DEFECT_NAMES
                    ) if tile.defects is not None
                    else pd.Categorical([None] * rows.size, categories=_DEFECT_NAMES),
                }
                if tile.write_failures is not None:
                    columns["write_failures"] = np.asarray(tile.write_failures).ravel()
                frames.append(pd.DataFrame(columns))
        if not frames:
            return pd.DataFrame(columns=["tile", "row", "col", "r_parallel_ohm",
                                         "r_antiparallel_ohm", "tmr", "defect"])
        return pd.concat(frames, ignore_index=True)


def open_wafer(path: str | Path) -> Wafer:
    """The wafer file at ``path``, checked (LabctlError if missing, DataFormatError if it is not
    a labctl wafer file or is damaged)."""
    path = Path(path)
    if not path.is_file():
        raise LabctlError(f"wafer file not found: {path}")
    with WaferReader(path) as reader:
        return Wafer(path, reader.info)


def sim_seed_of(wafer_id: str) -> int | None:
    """The seed in a simulated wafer's id (``sim-seed-7`` -> 7), else None."""
    if not wafer_id.startswith(SIM_WAFER_PREFIX):
        return None
    digits = wafer_id.removeprefix(SIM_WAFER_PREFIX)
    return int(digits) if digits.isdigit() else None


# ---- training, programming, validation (the `train` extra) ---------------------------------


def train(
    wafer: str | Path,
    out: str | Path,
    mode: str = "statistics-aware",
    *,
    die: str | None = None,
    quick: bool = False,
    seed: int = 0,
    epochs: float | None = None,
    virtual_dies: int | None = None,
    routing: bool = True,
    threads: int = 2,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``mode`` (``ideal``, ``unaware``, ``statistics-aware``,
    ``statistics-aware-routed``, ``hardware-aware`` or ``all``) on the complete dies of the
    wafer file and write the weights and ``summary.json`` to the folder ``out``, as
    ``labctl train`` does (docs/training.md); prerequisites found in ``out`` are reused.

    ``quick`` is the smoke-test preset (few epochs, a subset of MNIST); ``die`` trains one die
    (hardware-aware only). Returns the summary (error per mode on the dies and on
    ``virtual_dies`` virtual dies drawn from the wafer's statistics). Needs the ``train`` extra.
    """
    from labctl.training.pipeline import MODE_ORDER, PipelineOptions, TrainingRun
    from labctl.training.train import TrainConfig
    from labctl.training.wafer_maps import read_wafer_maps

    if die is not None and mode != "hardware-aware":
        raise ConfigError("die applies to mode 'hardware-aware' only")
    config = TrainConfig.quick(seed) if quick else TrainConfig(seed=seed)
    config = TrainConfig(**{**config.__dict__, "threads": threads, "routing": routing})
    if epochs is not None:
        if mode in ("unaware", "all"):
            raise ConfigError(f"epochs needs one training mode, not {mode}")
        config = config.with_epochs(mode, epochs)
    virtual = (200 if quick else 1000) if virtual_dies is None else virtual_dies
    if virtual < 0:
        raise ConfigError("virtual_dies must be >= 0")
    maps = read_wafer_maps(Path(wafer))
    if die is not None:
        maps.die(die)
    run = TrainingRun(maps, Path(out), PipelineOptions(config=config, virtual_dies=virtual),
                      progress=progress)
    modes = MODE_ORDER if mode == "all" else (mode,)
    return run.run(modes, die=die)


def program(
    wafer: str | Path,
    weights: str | Path,
    die: str = "all",
    *,
    station: StationSource | None = None,
    max_pulses: int = 5,
    amplitude_V: float | None = None,
    width_s: float | None = None,
) -> pd.DataFrame:
    """Write ``weights`` (a .safetensors file, or a folder of per-die ``<die>.safetensors``)
    onto ``die`` (or every complete die) of the wafer with write-verify, and store the read-back
    map in the wafer file, as ``labctl program`` does.

    ``station`` defaults, for a simulated wafer, to the simulator of the wafer's own seed.
    Returns one row per die: ``run``, ``weights``, ``cells``, ``missed``, ``new_defects``,
    ``pulses``. Needs the ``train`` extra.
    """
    from labctl.hardware.deploy import die_routing
    from labctl.hardware.service import die_maps, program_weights
    from labctl.station.station import Station
    from procedures.program import WriteVerifySettings

    wafer = Path(wafer)
    source = _station_for(wafer, station)
    settings = WriteVerifySettings(max_pulses=max_pulses, amplitude_V=amplitude_V,
                                   width_s=width_s)
    from labctl.hardware.service import selected_dies, weight_set_for

    dies = selected_dies(wafer, die)
    sets = {d: weight_set_for(Path(weights), d) for d in dies}
    maps = {d: die_maps(wafer, d) for d in dies}
    for d in dies:  # weights that do not fit a die are refused before anything moves
        die_routing(sets[d], maps[d])
    rows = []
    with source.open() as config, Station.connect(config) as connected:
        for d in dies:
            result = program_weights(connected, wafer, sets[d], maps[d], settings)
            rows.append({"die": d, "run": result.name, "weights": sets[d].path.name,
                         **result.summary()})
    return pd.DataFrame(rows).set_index("die")


def validate(
    wafer: str | Path,
    weights: str | Path,
    die: str = "all",
    *,
    station: StationSource | None = None,
    in_situ_images: int = 200,
    run: str | None = None,
    restore: bool | None = None,
) -> pd.DataFrame:
    """The MNIST error of programmed dies: (a) emulated from the stored read-back map on all
    10 000 test images and (b) by in-situ inference of the first ``in_situ_images`` on the die
    (0: only (a)), as ``labctl validate`` does.

    ``station`` defaults, for a simulated wafer, to the simulator of the wafer's own seed;
    ``restore`` (default: on for the simulator, which forgets earlier writes) writes a run's
    pattern again if the die no longer holds it. Returns one row per die. Needs the ``train``
    extra.
    """
    from labctl.hardware.service import data_for, die_maps, validate_programmed
    from labctl.station.station import Station
    from labctl.store.programmed import read_programmed_run

    if in_situ_images < 0:
        raise ConfigError("in_situ_images must be >= 0")
    wafer = Path(wafer)
    source = _station_for(wafer, station)
    from labctl.hardware.service import selected_dies, weight_set_for

    dies = selected_dies(wafer, die)
    sets = {d: weight_set_for(Path(weights), d) for d in dies}
    for d in dies:  # every die must have a run before any instrument is touched
        read_programmed_run(wafer, d, run)
    data = data_for(next(iter(sets.values())))
    rows = []
    with source.open() as config, Station.connect(config) as connected:
        for d in dies:
            result = validate_programmed(
                connected, wafer, sets[d], die_maps(wafer, d), data,
                in_situ_images=in_situ_images, run_name=run,
                restore=source.simulated if restore is None else restore,
            )
            rows.append(result.to_dict())
    return pd.DataFrame(rows).set_index("die")


# ---- helpers -------------------------------------------------------------------------------

_DEFECT_KEYS = tuple(c.name.lower() for c in DefectCode if c is not DefectCode.OK)
_DEFECT_NAMES = [c.name.lower() for c in sorted(DefectCode)]
_DIE_COLUMNS = [
    "die", "col", "row", "status", "yield_pct", "cells", "ok", *DEFECT_COLUMNS, "intermittent",
    "median_r_parallel_ohm", "median_r_antiparallel_ohm", "median_tmr", "started", "finished",
    "failure_reason",
]


def _float(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _station_for(wafer: Path, station: StationSource | None) -> StationSource:
    """``station``, or the simulator of a simulated wafer's seed; a simulator of another seed
    than the wafer's is refused (it would program a different virtual wafer)."""
    seed = open_wafer(wafer).sim_seed
    if station is None:
        if seed is None:
            raise ConfigError(f"{wafer} was measured on a real station: pass "
                              "station=labctl.api.open_station(FILE)")
        return simulator(seed)
    if station.simulated and seed is not None and station.sim_seed != seed:
        raise ConfigError(f"{wafer} measured {SIM_WAFER_PREFIX}{seed}, but the simulator runs "
                          f"seed {station.sim_seed}; use labctl.api.simulator({seed})")
    return station


