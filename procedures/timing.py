"""Duration of a wafer sweep on real instruments, estimated from their timing (`--dry-run`).

The estimate counts what the sweep procedure does (prober steps, contact, checks, write pulses,
triggered readings, VISA commands and buffer transfers) and prices each with the instruments'
timing. A reading integrates NPLC power-line cycles (20 ms each at 50 Hz mains) plus the trigger
model's per-reading overhead; that term dominates, so NPLC is the knob that sets the night.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labctl.core.geometry import DEFAULT_TILE_SHAPES
from procedures.settings import CharacterisationSettings

#: Rows read from each tile by the contact check (first and middle row).
CONTACT_CHECK_ROWS_PER_TILE = 2
#: NPLC of the contact check and gate-leakage readings (quick, the signal is large).
CHECK_NPLC = 0.1


@dataclass(frozen=True)
class InstrumentTiming:
    """Per-operation times of the station (defaults: Keithley 2450 SMUs, Velox prober, LAN VISA).

    Values are conservative typical figures; adjust them for a given station.
    """

    #: mains frequency; one power-line cycle lasts 1 / mains_frequency_Hz.
    mains_frequency_Hz: float = 50.0
    #: per triggered reading on top of the integration: trigger model, auto-zero, scan advance and
    #: switch-matrix settling.
    trigger_overhead_s: float = 0.5e-3
    #: one VISA command or query round trip over LAN (SCPI parse included).
    command_round_trip_s: float = 2e-3
    #: transfer of one buffered reading as ASCII (~16 bytes) from the SMU.
    transfer_per_reading_s: float = 20e-6
    #: per write pulse on top of its width: addressing the cell and re-arming the pulser.
    pulse_overhead_s: float = 10e-6
    #: prober step to the next die (chuck to separation, XY move, settle).
    prober_step_s: float = 2.0
    #: chuck from separation to contact height (with overtravel settle).
    contact_s: float = 0.5
    #: chuck from contact to separation height.
    separate_s: float = 0.5
    #: commands to set up and fetch one batched read (routing, scan mode, buffer, trigger, fetch).
    commands_per_read_batch: int = 10
    #: commands to set up and fire one tile write (tile, amplitude, width, write, *OPC?).
    commands_per_tile_write: int = 5
    #: commands of the gate-leakage check (source, limit, output, read, output off).
    commands_per_leakage_check: int = 6

    def reading_s(self, nplc: float) -> float:
        """Time of one triggered reading: integration plus trigger overhead."""
        return nplc / self.mains_frequency_Hz + self.trigger_overhead_s


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

    @property
    def total_s(self) -> float:
        return (self.prober_s + self.checks_s + self.writes_s + self.reads_s + self.commands_s
                + self.transfers_s)


@dataclass(frozen=True)
class SweepEstimate:
    """Plan-level estimate: `n_dies` identical dies."""

    n_dies: int
    cells_per_die: int
    die: DieEstimate

    @property
    def total_s(self) -> float:
        return self.n_dies * self.die.total_s


def estimate_die(
    settings: CharacterisationSettings,
    tile_shapes: Sequence[tuple[int, int]] = DEFAULT_TILE_SHAPES,
    timing: InstrumentTiming | None = None,
) -> DieEstimate:
    """Price one die: step, contact, checks, cycles x (write P, read, write AP, read), separate."""
    timing = timing or InstrumentTiming()
    cells = sum(rows * cols for rows, cols in tile_shapes)
    # Each cycle reads every cell twice (after the P write and after the AP write).
    readings = 2 * settings.cycles * cells
    pulses = 2 * settings.cycles * cells
    read_batches_per_pass = (
        len(tile_shapes) if settings.batching == "tile" else sum(r for r, _ in tile_shapes)
    )
    read_batches = 2 * settings.cycles * read_batches_per_pass
    tile_writes = 2 * settings.cycles * len(tile_shapes)

    check_readings = sum(CONTACT_CHECK_ROWS_PER_TILE * cols for _, cols in tile_shapes)
    check_batches = CONTACT_CHECK_ROWS_PER_TILE * len(tile_shapes)
    checks_s = (
        check_readings * (timing.reading_s(CHECK_NPLC) + timing.transfer_per_reading_s)
        + check_batches * timing.commands_per_read_batch * timing.command_round_trip_s
        + timing.reading_s(CHECK_NPLC)
        + timing.commands_per_leakage_check * timing.command_round_trip_s
    )
    return DieEstimate(
        prober_s=timing.prober_step_s + timing.contact_s + timing.separate_s,
        checks_s=checks_s,
        writes_s=pulses * (settings.write_width_s + timing.pulse_overhead_s),
        reads_s=readings * timing.reading_s(settings.nplc),
        commands_s=(read_batches * timing.commands_per_read_batch
                    + tile_writes * timing.commands_per_tile_write) * timing.command_round_trip_s,
        transfers_s=readings * timing.transfer_per_reading_s,
        readings=readings,
        pulses=pulses,
    )


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
