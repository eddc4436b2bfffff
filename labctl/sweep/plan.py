"""A sweep's plan, checked completely before anything is touched.

Every input problem (unknown dies, settings outside the station's limits, an existing output
without ``--resume``, a file of another format or wafer, an unwritable path) is found here and
raised as one LabctlError, so a bad command changes nothing: no file is created, no instrument
is contacted. The same plan drives ``--dry-run``, which prints it with its estimated duration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labctl.core.errors import LabctlError
from labctl.station.config import Limits, StationConfig
from labctl.store.layout import DieStatus
from labctl.store.publish import check_output_path
from labctl.store.reader import open_wafer
from labctl.store.wafer_file import resolve_die_selection
from labctl.sweep.logfile import log_path_for
from procedures.base import check_resumable
from procedures.operating_point import check_against_limits
from procedures.settings import CharacterisationSettings
from procedures.timing import (
    DEFAULT_TILE_SHAPES,
    InstrumentTiming,
    SweepEstimate,
    estimate_sweep,
    format_duration,
)


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep will do; built by :func:`make_plan`, which validated all of it."""

    station_label: str
    station_config: StationConfig
    output: Path
    wafer_id: str
    dies: tuple[str, ...]
    already_complete: tuple[str, ...]
    resume: bool
    settings: CharacterisationSettings

    @property
    def log_path(self) -> Path:
        return log_path_for(self.output)

    @property
    def to_measure(self) -> tuple[str, ...]:
        return tuple(name for name in self.dies if name not in self.already_complete)

    def estimate(self, timing: InstrumentTiming | None = None) -> SweepEstimate:
        """Duration on real hardware of the dies still to measure (default die geometry)."""
        return estimate_sweep(len(self.to_measure), self.settings, DEFAULT_TILE_SHAPES, timing)


def settings_with_station_defaults(
    limits: Limits,
    *,
    cycles: int | None = None,
    read_voltage_V: float | None = None,
    write_voltage_V: float | None = None,
    write_width_s: float | None = None,
    nplc: float | None = None,
    batching: str | None = None,
) -> CharacterisationSettings:
    """Settings from the given values; read bias and write pulse default to the station's
    operating points, the rest to CharacterisationSettings' defaults."""
    defaults = CharacterisationSettings()
    return CharacterisationSettings(
        cycles=defaults.cycles if cycles is None else cycles,
        read_voltage_V=limits.read_voltage_V if read_voltage_V is None else read_voltage_V,
        write_voltage_V=limits.write_voltage_V if write_voltage_V is None else write_voltage_V,
        write_width_s=limits.write_width_s if write_width_s is None else write_width_s,
        nplc=defaults.nplc if nplc is None else nplc,
        batching=defaults.batching if batching is None else batching,  # type: ignore[arg-type]
    )


def make_plan(
    *,
    station_label: str,
    station_config: StationConfig,
    output: Path,
    wafer_id: str,
    dies: str,
    resume: bool,
    settings: CharacterisationSettings,
) -> SweepPlan:
    """Validate everything about a sweep without side effects; LabctlError on any problem."""
    names = tuple(resolve_die_selection(dies))
    check_against_limits(station_config.limits, settings, station_config.name)
    log_path = log_path_for(output)
    complete: tuple[str, ...] = ()
    if resume:
        if not output.exists():
            raise LabctlError(f"{output} does not exist: nothing to resume (drop --resume)")
        check_resumable(output, wafer_id, settings)
        with open_wafer(output) as reader:
            complete = tuple(n for n, rec in reader.dies.items()
                             if rec.status is DieStatus.COMPLETE and n in names)
    else:
        if output.exists() or output.is_symlink():
            raise LabctlError(
                f"{output} already exists: add --resume to finish it, or choose another --out"
            )
        check_output_path(output)
    if log_path.exists() and not os.access(log_path, os.W_OK):
        raise LabctlError(f"cannot write the log file {log_path}")
    return SweepPlan(
        station_label=station_label,
        station_config=station_config,
        output=output,
        wafer_id=wafer_id,
        dies=names,
        already_complete=complete,
        resume=resume,
        settings=settings,
    )


def plan_text(plan: SweepPlan, timing: InstrumentTiming | None = None) -> str:
    """The plan and its duration estimate, as `labctl sweep --dry-run` prints it."""
    timing = timing or InstrumentTiming()
    estimate = plan.estimate(timing)
    s = plan.settings
    die = estimate.die
    lines = [
        f"station:   {plan.station_label}",
        f"output:    {plan.output} ({'resume' if plan.resume else 'new file'}), "
        f"log {plan.log_path}",
        f"wafer:     {plan.wafer_id}",
        f"dies:      {len(plan.dies)} selected, {len(plan.already_complete)} already complete, "
        f"{len(plan.to_measure)} to measure",
    ]
    if plan.to_measure:
        lines.append("           " + " ".join(plan.to_measure))
    lines += [
        f"settings:  {s.cycles} cycle(s) of write P / read / write AP / read per tile; "
        f"read bias {s.read_voltage_V:g} V, NPLC {s.nplc:g}, {s.batching}-batched reads; "
        f"write pulses {s.write_voltage_V:g} V x {s.write_width_s:g} s",
        f"per die:   {estimate.cells_per_die} cells, {die.readings} readings, {die.pulses} "
        f"write pulses",
        "estimate on real instruments (per die):",
        f"  readings   {format_duration(die.reads_s):>14}  "
        f"({s.nplc:g} NPLC x {1000 / timing.mains_frequency_Hz:g} ms at "
        f"{timing.mains_frequency_Hz:g} Hz + {1000 * timing.trigger_overhead_s:g} ms trigger "
        f"overhead each)",
        f"  transfers  {format_duration(die.transfers_s):>14}  "
        f"({1e6 * timing.transfer_per_reading_s:g} us per reading)",
        f"  commands   {format_duration(die.commands_s):>14}  "
        f"({1000 * timing.command_round_trip_s:g} ms per VISA round trip)",
        f"  writes     {format_duration(die.writes_s):>14}  "
        f"(pulse width + {1e6 * timing.pulse_overhead_s:g} us per pulse)",
        f"  checks     {format_duration(die.checks_s):>14}  (contact check and gate leakage)",
        f"  prober     {format_duration(die.prober_s):>14}  "
        f"(step {timing.prober_step_s:g} s, contact {timing.contact_s:g} s, "
        f"separate {timing.separate_s:g} s)",
        f"  total      {format_duration(die.total_s):>14}",
        f"estimated duration: {format_duration(estimate.total_s)} for "
        f"{len(plan.to_measure)} dies",
    ]
    return "\n".join(lines)
