"""A sweep's plan, checked completely before anything is touched.

Every input problem (unknown dies, settings outside their ranges or the station's limits, an
existing output that is not resumed, a file of another format or wafer, an unwritable path) is
found here and raised as one LabctlError naming the setting, so a bad request changes nothing:
no file is created, no instrument is contacted. The same plan drives a dry run, which prints it
with its estimated duration.

Resume is decided here, once, for every caller: a resumed file keeps its own die selection,
wafer id and characterisation settings unless the request names them (and then they must agree
with the file; only speed-only settings may differ).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.core.errors import ConfigError, LabctlError
from labctl.services.sweep.logfile import log_path_for
from labctl.services.sweep.spec import SweepSpec, sweep_spec
from labctl.station.config import StationConfig
from labctl.store.layout import DieStatus
from labctl.store.publish import check_output_path
from labctl.store.reader import open_wafer
from labctl.store.wafer_file import resolve_die_selection
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
class SweepRequest:
    """What a caller asks for: output file, dies, setting values, new file or resume.

    ``dies`` None means every die for a new file and the file's own selection for a resume;
    ``values`` maps setting names (the sweep procedure's Parameters) to values, and a setting
    not given takes its default (see :meth:`SweepSpec.resolve`).
    """

    output: Path
    dies: str | Sequence[str] | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    resume: bool = False


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
    #: Every setting of the spec, resolved (``wafer_id`` included).
    values: Mapping[str, Any] = field(default_factory=dict)
    spec: SweepSpec = field(default_factory=sweep_spec)

    @property
    def log_path(self) -> Path:
        return log_path_for(self.output)

    @property
    def to_measure(self) -> tuple[str, ...]:
        return tuple(name for name in self.dies if name not in self.already_complete)

    def timing(self) -> InstrumentTiming:
        """The time model of this plan's station (its line frequency and read channels)."""
        return InstrumentTiming.for_station(self.station_config)

    def estimate(self, timing: InstrumentTiming | None = None) -> SweepEstimate:
        """Duration on real hardware of the dies still to measure (default die geometry), and
        the instruments' limit for them."""
        return estimate_sweep(len(self.to_measure), self.settings, DEFAULT_TILE_SHAPES,
                              timing or self.timing())


@dataclass(frozen=True)
class StoredRun:
    """What a wafer file says about the sweep that made it (what a resume continues)."""

    wafer_id: str
    settings: Mapping[str, Any]
    dies: tuple[str, ...] | None

    @classmethod
    def read(cls, path: Path) -> StoredRun:
        with open_wafer(path) as reader:
            info = reader.info
        stored = info.procedure.get("settings")
        dies = info.procedure.get("dies")
        if dies is not None and (not isinstance(dies, list)
                                 or not all(isinstance(d, str) for d in dies)):
            raise ConfigError(f"{path}: stored die selection is unreadable")
        return cls(info.wafer_id, stored if isinstance(stored, dict) else {},
                   tuple(dies) if dies else None)


def make_plan(
    request: SweepRequest,
    *,
    station_label: str,
    station_config: StationConfig,
    default_wafer_id: str,
    keep_stored_wafer_id: bool = True,
    spec: SweepSpec | None = None,
) -> SweepPlan:
    """Validate everything about a sweep without side effects; LabctlError on any problem.

    ``default_wafer_id`` names the wafer unless the request does; on a resume the file's own id
    is kept instead when ``keep_stored_wafer_id`` (a station file: the file knows its wafer; the
    simulator: its seed decides, and a file of another seed is refused).
    """
    spec = spec or sweep_spec()
    output = Path(request.output)
    given = spec.check(request.values)
    stored: StoredRun | None = None
    if request.resume:
        if not output.exists():
            raise LabctlError(f"{output} does not exist: nothing to resume")
        stored = StoredRun.read(output)
    selection = request.dies
    if selection is None:
        selection = stored.dies if stored is not None and stored.dies else "all"
    names = tuple(resolve_die_selection(selection))
    values = spec.resolve(given, station_config.limits,
                          stored.settings if stored is not None else None)
    wafer_id = str(values.get("wafer_id") or "")
    if not wafer_id:
        keep = stored is not None and keep_stored_wafer_id
        wafer_id = stored.wafer_id if stored is not None and keep else default_wafer_id
    values["wafer_id"] = wafer_id
    settings = spec.characterisation(values)
    check_against_limits(station_config.limits, settings, station_config.name)
    log_path = log_path_for(output)
    complete: tuple[str, ...] = ()
    if request.resume:
        check_resumable(output, wafer_id, settings)
        with open_wafer(output) as reader:
            complete = tuple(n for n, rec in reader.dies.items()
                             if rec.status is DieStatus.COMPLETE and n in names)
    else:
        if output.exists() or output.is_symlink():
            raise LabctlError(
                f"{output} already exists: resume it to finish it, or choose another output file"
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
        resume=request.resume,
        settings=settings,
        values=values,
        spec=spec,
    )


def plan_text(plan: SweepPlan, timing: InstrumentTiming | None = None) -> str:
    """The plan and its duration estimate, as `labctl sweep --dry-run` prints it."""
    timing = timing or plan.timing()
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
        f"write pulses {s.write_voltage_V:g} V x {s.write_width_s:g} s; "
        + (f"adaptive re-reads at NPLC {s.precise_nplc:g}" if s.adaptive
           else "no adaptive re-reads"),
        f"per die:   {estimate.cells_per_die} cells, {die.readings} readings, {die.pulses} "
        f"write pulses",
        f"station:   {timing.read_channels} read channel(s) reading at the same time, mains "
        f"{timing.mains_frequency_Hz:g} Hz; one SMU reads at most "
        f"{timing.max_readings_per_s:,.0f} readings/s (NPLC 0.01)",
        "estimate on real instruments (per die):",
        f"  readings   {format_duration(die.reads_s):>14}  "
        f"({s.nplc:g} NPLC x {1000 / timing.mains_frequency_Hz:g} ms at "
        f"{timing.mains_frequency_Hz:g} Hz + {1000 * timing.trigger_overhead_s:.3g} ms trigger "
        f"overhead each, over {timing.read_channels} channel(s))",
        f"  transfers  {format_duration(die.transfers_s):>14}  "
        f"({1e6 * timing.transfer_per_reading_s:g} us per reading)",
        f"  commands   {format_duration(die.commands_s):>14}  "
        f"({1000 * timing.command_round_trip_s:g} ms per VISA round trip)",
        f"  writes     {format_duration(die.writes_s):>14}  "
        f"(pulse width + {1e6 * timing.pulse_overhead_s:g} us per pulse)",
        f"  checks     {format_duration(die.checks_s):>14}  (contact check and gate leakage)",
        f"  re-reads   {format_duration(die.rereads_s):>14}  "
        f"(~{die.reread_cells:.0f} ambiguous cells x {2 * s.cycles} at NPLC {s.precise_nplc:g}, "
        f"{100 * timing.ambiguous_fraction:g} % of cells expected)",
        f"  prober     {format_duration(die.prober_s):>14}  "
        f"(step {timing.prober_step_s:g} s, contact {timing.contact_s:g} s, "
        f"separate {timing.separate_s:g} s)",
        f"  total      {format_duration(die.total_s):>14}",
        f"estimated duration: {format_duration(estimate.total_s)} for "
        f"{len(plan.to_measure)} dies",
        f"instrument limit:   {format_duration(estimate.limit_s)} (every reading at "
        f"{timing.max_readings_per_s:,.0f}/s on each of {timing.read_channels} channel(s), "
        f"pulses and prober moves only); estimate = {estimate.ratio_to_limit:.2f} x limit",
    ]
    return "\n".join(lines)
