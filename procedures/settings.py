"""The measurement settings of a die characterisation, as one validated, typed value.

The PyMeasure procedures expose these as Parameters (for the GUI and the CLI); the measurement
functions, the dry-run estimator and the HDF5 `procedure` attribute all use this dataclass, so
every consumer sees the same names, units and limits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from labctl.core.errors import ConfigError
from labctl.core.wafer_map import ALL_DIE_NAMES

Batching = Literal["tile", "row"]
BATCHING_CHOICES: tuple[Batching, ...] = ("tile", "row")

#: Ranges accepted for each setting (hardware ranges of the SMUs and the array controller; the
#: station's own, usually tighter, limits are checked by the drivers when the values are sent).
CYCLES_RANGE = (1, 1000)
READ_VOLTAGE_RANGE_V = (0.001, 1.0)
WRITE_VOLTAGE_RANGE_V = (0.0, 2.0)
WRITE_WIDTH_RANGE_S = (1e-9, 1e-3)
NPLC_RANGE = (0.01, 10.0)

#: Ranges of the run's robustness knobs (they change how a sweep copes, not what it measures).
RETRY_ATTEMPTS_RANGE = (1, 10)
RETRY_BACKOFF_RANGE_S = (0.0, 60.0)
GATE_LEAKAGE_RANGE_A = (1e-12, 1.0)
CHECKPOINT_INTERVAL_RANGE_S = (0.0, 3600.0)
#: Dies in a row failing on instrument errors before a sweep stops (at most the whole wafer).
CONSECUTIVE_FAILURES_RANGE = (1, len(ALL_DIE_NAMES))


@dataclass(frozen=True)
class CharacterisationSettings:
    """How each tile of a die is written and read.

    One cycle writes every cell to P, reads the tile, writes every cell to AP and reads it again.
    Defaults (those of data/stations/sim.toml): 0.1 V read bias (low enough not to disturb a
    0.4 V-critical MTJ), 0.8 V / 50 ns write pulses (well above the critical voltage at the
    cell, so switching is deterministic), a fast pass at NPLC 0.01 (the SMU's shortest
    integration, 0.2 ms at 50 Hz; about 3 % read noise on these cells, far below the ~2x P/AP
    contrast) and adaptive re-reads at NPLC 1 of the few ambiguous cells.
    """

    cycles: int = 2
    read_voltage_V: float = 0.1
    write_voltage_V: float = 0.8
    write_width_s: float = 50e-9
    nplc: float = 0.01
    batching: Batching = "tile"
    #: Adaptive reading: after the fast pass at ``nplc``, the cells whose reads are ambiguous
    #: (near a classification threshold, or inconsistent across cycles) are measured again at
    #: ``precise_nplc`` (procedures.adaptive).
    adaptive: bool = True
    precise_nplc: float = 1.0

    def __post_init__(self) -> None:
        _check_range("cycles", self.cycles, CYCLES_RANGE, "")
        _check_range("read_voltage_V", self.read_voltage_V, READ_VOLTAGE_RANGE_V, " V")
        _check_range("write_voltage_V", self.write_voltage_V, WRITE_VOLTAGE_RANGE_V, " V")
        _check_range("write_width_s", self.write_width_s, WRITE_WIDTH_RANGE_S, " s")
        _check_range("nplc", self.nplc, NPLC_RANGE, "")
        _check_range("precise_nplc", self.precise_nplc, NPLC_RANGE, "")
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"adaptive must be true or false, got {self.adaptive!r}")
        if isinstance(self.cycles, bool) or int(self.cycles) != self.cycles:
            raise ConfigError(f"cycles must be a whole number, got {self.cycles!r}")
        if self.batching not in BATCHING_CHOICES:
            raise ConfigError(
                f"batching must be one of {', '.join(BATCHING_CHOICES)}, got {self.batching!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (stored in the HDF5 `procedure` attribute)."""
        return asdict(self)


def _check_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    low, high = bounds
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} = {value:g}{unit} is outside {low:g} ... {high:g}{unit}")
