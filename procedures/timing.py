"""Duration of a wafer sweep on real instruments, estimated from their timing (`--dry-run`).

The estimate counts what the sweep procedure does (prober steps, contact, checks, write pulses,
triggered readings, VISA commands and buffer transfers) and prices each with the instruments'
timing. A reading integrates NPLC power-line cycles (1 / line frequency each: the station file's
``[station] line_frequency_Hz``) plus the trigger model's per-reading overhead, derived from the
Keithley 2450 datasheet's fastest reading rate; readings of a row or tile are split over the
station's read channels, which read at the same time. The instrument limit is the same readings
at the SMU's fastest rate on every channel, plus the prober's moves and the pulses themselves:
nothing the station could do would be faster. Sources and assumptions: docs/benchmarks.md
("Time model").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from labctl.core.geometry import DEFAULT_TILE_SHAPES
from procedures.settings import CharacterisationSettings

if TYPE_CHECKING:
    from labctl.station.config import StationConfig

#: Rows read from each tile by the contact check (first and middle row).
CONTACT_CHECK_ROWS_PER_TILE = 2
#: NPLC of the contact check and gate-leakage readings (quick, the signal is large).
CHECK_NPLC = 0.1

#: Keithley 2450 reference manual (2450-901-01), ``:SENSe:CURRent:NPLCycles``: 0.01 ... 10.
SMU_MIN_NPLC = 0.01
#: Keithley 2450 datasheet (1KW-60904, "up to 3,000 readings/s"): readings into the reading
#: buffer at the shortest integration (NPLC 0.01), stated for 60 Hz mains.
SMU_MAX_READINGS_PER_S = 3000.0
DATASHEET_LINE_FREQUENCY_Hz = 60.0
#: Per-reading time besides integration (trigger model, A/D, buffer), from the two figures above:
#: 1 / 3000 s - 0.01 / 60 Hz = 0.167 ms.
SMU_READING_OVERHEAD_s = 1.0 / SMU_MAX_READINGS_PER_S - SMU_MIN_NPLC / DATASHEET_LINE_FREQUENCY_Hz
#: Share of cells the adaptive read measures again: 75 of 206 000 cells (0.036 %) on 10 simulated
#: dies of 5 seeds at NPLC 0.01 (docs/benchmarks.md), rounded up; an assumption for a real wafer
#: until measured there.
AMBIGUOUS_FRACTION = 0.0005


@dataclass(frozen=True)
class InstrumentTiming:
    """Per-operation times of the station (defaults: Keithley 2450 SMUs, Velox prober, LAN VISA).

    The reading figures come from the 2450's datasheet and manual and the station's line
    frequency; the rest are marked assumptions (docs/benchmarks.md): adjust them for a station.
    """

    #: mains frequency (the station file's ``line_frequency_Hz``); one PLC = 1 / this.
    mains_frequency_Hz: float = 50.0
    #: read channels reading at the same time (``read_smu`` plus ``read_smu_2`` ...).
    read_channels: int = 1
    #: per triggered reading on top of the integration (datasheet-derived, see above).
    trigger_overhead_s: float = SMU_READING_OVERHEAD_s
    #: one VISA command or query round trip over LAN (SCPI parse included). Assumption.
    command_round_trip_s: float = 2e-3
    #: transfer of one buffered reading as ASCII (~16 bytes) from the SMU. Assumption.
    transfer_per_reading_s: float = 20e-6
    #: per write pulse on top of its width: set-up of the controller's pulse drivers
    #: (docs/array-controller-protocol.md, nominal hardware timing: 1 us).
    pulse_overhead_s: float = 1e-6
    #: prober step to the next die (chuck to separation, XY move, settle). Assumption.
    prober_step_s: float = 2.0
    #: chuck from separation to contact height (with overtravel settle). Assumption.
    contact_s: float = 0.5
    #: chuck from contact to separation height. Assumption.
    separate_s: float = 0.5
    #: commands to set up and fetch one batched read (routing, scan mode, buffer, trigger, fetch).
    commands_per_read_batch: int = 10
    #: commands to set up and fire one tile write (tile, amplitude, width, write, *OPC?).
    commands_per_tile_write: int = 5
    #: commands of the gate-leakage check (source, limit, output, read, output off).
    commands_per_leakage_check: int = 6
    #: commands to change the SMUs' integration time (both SMUs configured, errors checked).
    commands_per_bias_change: int = 6
    #: share of cells measured again by the adaptive read (expected value).
    ambiguous_fraction: float = AMBIGUOUS_FRACTION

    @classmethod
    def for_station(cls, config: StationConfig) -> InstrumentTiming:
        """The default timing with the station's line frequency and read channels."""
        return cls(mains_frequency_Hz=config.line_frequency_Hz,
                   read_channels=config.n_read_channels)

    def with_channels(self, read_channels: int) -> InstrumentTiming:
        return replace(self, read_channels=read_channels)

    def reading_s(self, nplc: float) -> float:
        """Time of one triggered reading: integration plus trigger overhead."""
        return nplc / self.mains_frequency_Hz + self.trigger_overhead_s

    @property
    def max_readings_per_s(self) -> float:
        """The fastest reading rate of one SMU at this line frequency (NPLC 0.01)."""
        return 1.0 / self.reading_s(SMU_MIN_NPLC)

    def per_channel(self, cols: int) -> int:
        """Readings per row of the busiest channel when ``cols`` bit lines are split over the
        read channels (the controller's sense groups; the widest group sets the pace)."""
        return math.ceil(cols / max(1, min(self.read_channels, cols)))


@dataclass(frozen=True)
class DieEstimate:
    """Time of one die by activity, in seconds; `total_s` sums them."""

    prober_s: float
    checks_s: float
    writes_s: float
    reads_s: float
    commands_s: float
    transfers_s: float
    readings: int
    pulses: int
    #: adaptive re-measurement of the ambiguous cells (writes, reads, commands).
    rereads_s: float = 0.0
    #: expected cells measured again.
    reread_cells: float = 0.0

    @property
    def total_s(self) -> float:
        return (self.prober_s + self.checks_s + self.writes_s + self.reads_s + self.commands_s
                + self.transfers_s + self.rereads_s)


@dataclass(frozen=True)
class SweepEstimate:
    """Plan-level estimate: `n_dies` identical dies, and the instruments' limit for them."""

    n_dies: int
    cells_per_die: int
    die: DieEstimate
    #: the instruments' limit for one die (see :func:`instrument_limit_die_s`).
    limit_die_s: float = float("nan")

    @property
    def total_s(self) -> float:
        return self.n_dies * self.die.total_s

    @property
    def limit_s(self) -> float:
        return self.n_dies * self.limit_die_s

    @property
    def ratio_to_limit(self) -> float:
        """Estimate / instrument limit (1 would be the instruments' own speed)."""
        return self.die.total_s / self.limit_die_s if self.limit_die_s > 0 else float("nan")


def estimate_die(
    settings: CharacterisationSettings,
    tile_shapes: Sequence[tuple[int, int]] = DEFAULT_TILE_SHAPES,
    timing: InstrumentTiming | None = None,
) -> DieEstimate:
    """Price one die: step, contact, checks, cycles x (write P, read, write AP, read), the
    adaptive re-measurement of the ambiguous cells, separate."""
    timing = timing or InstrumentTiming()
    cells = sum(rows * cols for rows, cols in tile_shapes)
    passes = 2 * settings.cycles  # each cycle reads every cell after P and after AP writes
    readings = passes * cells
    pulses = passes * cells
    # The channels read their sense groups at the same time: the widest group sets the pace.
    paced_per_pass = sum(rows * timing.per_channel(cols) for rows, cols in tile_shapes)
    read_batches_per_pass = (
        len(tile_shapes) if settings.batching == "tile" else sum(r for r, _ in tile_shapes)
    )
    read_batches = passes * read_batches_per_pass
    tile_writes = passes * len(tile_shapes)

    check_paced = sum(CONTACT_CHECK_ROWS_PER_TILE * timing.per_channel(cols)
                      for _, cols in tile_shapes)
    check_batches = CONTACT_CHECK_ROWS_PER_TILE * len(tile_shapes)
    checks_s = (
        check_paced * (timing.reading_s(CHECK_NPLC) + timing.transfer_per_reading_s)
        + check_batches * timing.commands_per_read_batch * timing.command_round_trip_s
        + timing.reading_s(CHECK_NPLC)
        + timing.commands_per_leakage_check * timing.command_round_trip_s
    )
    reread_cells = timing.ambiguous_fraction * cells if settings.adaptive else 0.0
    rereads_s = 0.0
    if settings.adaptive:
        # Per tile: cycles x (cell writes to P, list read, cell writes to AP, list read) of its
        # ambiguous cells, one controller message and one acquisition each, and two NPLC changes.
        per_tile_commands = (passes * (2 + timing.commands_per_read_batch)
                             + 2 * timing.commands_per_bias_change)
        rereads_s = (
            reread_cells * passes * (timing.reading_s(settings.precise_nplc)
                                     + settings.write_width_s + timing.pulse_overhead_s
                                     + timing.transfer_per_reading_s)
            + len(tile_shapes) * per_tile_commands * timing.command_round_trip_s
        )
    return DieEstimate(
        prober_s=timing.prober_step_s + timing.contact_s + timing.separate_s,
        checks_s=checks_s,
        writes_s=pulses * (settings.write_width_s + timing.pulse_overhead_s),
        reads_s=passes * paced_per_pass * timing.reading_s(settings.nplc),
        commands_s=(read_batches * timing.commands_per_read_batch
                    + tile_writes * timing.commands_per_tile_write) * timing.command_round_trip_s,
        transfers_s=passes * paced_per_pass * timing.transfer_per_reading_s,
        readings=readings,
        pulses=pulses,
        rereads_s=rereads_s,
        reread_cells=reread_cells,
    )


def instrument_limit_die_s(
    settings: CharacterisationSettings,
    tile_shapes: Sequence[tuple[int, int]] = DEFAULT_TILE_SHAPES,
    timing: InstrumentTiming | None = None,
) -> float:
    """The instruments' own limit for one die: the prober's moves, the write pulses, and every
    reading of the cycles at the SMU's fastest rate, spread evenly over all read channels (no
    command, transfer, check or re-read)."""
    timing = timing or InstrumentTiming()
    cells = sum(rows * cols for rows, cols in tile_shapes)
    passes = 2 * settings.cycles
    return (timing.prober_step_s + timing.contact_s + timing.separate_s
            + passes * cells * (settings.write_width_s + timing.pulse_overhead_s)
            + passes * cells / (timing.read_channels * timing.max_readings_per_s))


def estimate_sweep(
    n_dies: int,
    settings: CharacterisationSettings,
    tile_shapes: Sequence[tuple[int, int]] = DEFAULT_TILE_SHAPES,
    timing: InstrumentTiming | None = None,
) -> SweepEstimate:
    """Price a sweep of `n_dies` dies of the given geometry."""
    timing = timing or InstrumentTiming()
    return SweepEstimate(
        n_dies=n_dies,
        cells_per_die=sum(rows * cols for rows, cols in tile_shapes),
        die=estimate_die(settings, tile_shapes, timing),
        limit_die_s=instrument_limit_die_s(settings, tile_shapes, timing),
    )


def format_duration(seconds: float) -> str:
    """`3 h 07 min`, `12 min 05 s` or `42.0 s`: readable at a glance in a plan or a progress bar."""
    if seconds != seconds or seconds == float("inf"):
        return "unknown"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"
