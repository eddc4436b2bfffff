"""Every number of the virtual wafer's physics in one frozen, validated parameter set.

Defaults are textbook STT-MRAM / 1T-1MTJ values; docs/model.md gives each one's unit, meaning and
source, and says which are assumptions. Log-normal spreads are given as the standard deviation of
the natural logarithm (``*_sigma_log``): 0.05 means about 5 % relative spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from labctl.core.errors import ConfigError
from labctl.core.geometry import DEFAULT_TILE_SHAPES


@dataclass(frozen=True)
class SimParams:
    """Physics of the simulated dies: geometry, resistances, noise, switching and defects."""

    # --- geometry -------------------------------------------------------------------------------
    #: (rows, cols) of each crossbar tile: layers of a 196-100-10 binary network by default.
    tile_shapes: tuple[tuple[int, int], ...] = DEFAULT_TILE_SHAPES

    # --- MTJ resistance and TMR -----------------------------------------------------------------
    #: wafer median of the parallel-state resistance R_P (RA ~ 5 ohm um^2 at ~45 nm diameter).
    r_p_median_ohm: float = 3000.0
    #: die-to-die spread of a die's median R_P.
    r_p_die_sigma_log: float = 0.05
    #: device-to-device spread of R_P within a die.
    r_p_device_sigma_log: float = 0.04
    #: wafer median zero-bias TMR = (R_AP - R_P) / R_P, as a fraction (1.5 = 150 %).
    tmr_median: float = 1.5
    #: die-to-die spread of a die's median TMR.
    tmr_die_sigma_log: float = 0.04
    #: device-to-device spread of TMR within a die.
    tmr_device_sigma_log: float = 0.05
    #: bias at which TMR has dropped to half: TMR(V) = TMR0 / (1 + (V / V_half)^2).
    tmr_v_half_V: float = 0.5

    # --- access transistor ----------------------------------------------------------------------
    #: median on-resistance at the nominal gate voltage.
    r_on_median_ohm: float = 1000.0
    #: device-to-device spread of the on-resistance.
    r_on_device_sigma_log: float = 0.05
    #: word-line (gate) voltage at which r_on_median_ohm holds.
    v_gate_nominal_V: float = 1.2
    #: median threshold voltage; at or below it the transistor is off (no read current).
    v_threshold_V: float = 0.45
    #: die-to-die spread of the threshold voltage (normal, volts).
    v_threshold_die_sigma_V: float = 0.02

    # --- read noise -----------------------------------------------------------------------------
    #: relative current noise (1 sigma) at NPLC = 1; scales as 1 / sqrt(NPLC).
    read_noise_rel_nplc1: float = 0.003
    #: absolute current noise floor (1 sigma) at NPLC = 1; scales as 1 / sqrt(NPLC).
    noise_floor_A_nplc1: float = 1e-12

    # --- switching (thermally activated, critical voltage at the cell terminals) ----------------
    #: median critical voltage of P -> AP switching.
    vc_p2ap_median_V: float = 0.45
    #: median critical voltage of AP -> P switching (lower: the AP -> P direction is easier).
    vc_ap2p_median_V: float = 0.40
    #: die-to-die spread of the critical voltages.
    vc_die_sigma_log: float = 0.02
    #: device-to-device spread of the critical voltages.
    vc_device_sigma_log: float = 0.05
    #: switching time at V = Vc; below Vc tau = tau0 exp(Delta (1 - V/Vc)), above tau0 Vc / V.
    switching_tau0_s: float = 5e-9
    #: thermal stability factor Delta = E_b / k_B T of the free layer.
    thermal_stability: float = 60.0

    # --- cell defects ---------------------------------------------------------------------------
    #: fraction of dies drawn from the "bad die" component of the defect-rate mixture.
    bad_die_probability: float = 0.10
    #: median cell defect rate of a good die (fraction of cells).
    defect_rate_good_median: float = 0.0035
    #: log-normal spread of a good die's defect rate.
    defect_rate_good_sigma_log: float = 0.4
    #: median cell defect rate of a bad die.
    defect_rate_bad_median: float = 0.025
    #: log-normal spread of a bad die's defect rate.
    defect_rate_bad_sigma_log: float = 0.4
    #: upper cap on any die's random cell defect rate.
    defect_rate_max: float = 0.10
    #: relative weights of the defect types among defective cells (normalised when drawn).
    defect_weight_short: float = 0.3
    defect_weight_open: float = 0.2
    defect_weight_stuck_p: float = 0.25
    defect_weight_stuck_ap: float = 0.25
    #: MTJ resistance of a shorted barrier (median; log-normal spread below).
    r_short_median_ohm: float = 50.0
    r_short_sigma_log: float = 0.3
    #: resistance of an open cell (median; log-normal spread below).
    r_open_median_ohm: float = 1e10
    r_open_sigma_log: float = 0.5
    #: mean number of whole-line (row or column) failures per die, Poisson; those cells read open.
    line_failures_per_die_mean: float = 0.1

    # --- die-level gate short -------------------------------------------------------------------
    #: probability that a die has a gross word-line (gate) short.
    gross_short_probability: float = 0.03
    #: resistance of a gross gate short (gate SMU sees ~mA at the nominal gate voltage).
    r_gate_short_ohm: float = 1000.0
    #: gate leakage conductance of a healthy die (all word lines together).
    gate_leakage_S: float = 1e-9

    def __post_init__(self) -> None:
        _check_tile_shapes(self.tile_shapes)
        for field in fields(self):
            if field.name == "tile_shapes":
                continue
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"SimParams.{field.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ConfigError(f"SimParams.{field.name} must not be negative, got {value!r}")
        for name in _STRICTLY_POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(f"SimParams.{name} must be > 0, got {getattr(self, name)!r}")
        for name in _FRACTIONS:
            if getattr(self, name) > 1:
                raise ConfigError(f"SimParams.{name} must be <= 1, got {getattr(self, name)!r}")
        if sum(self.defect_weights) <= 0:
            raise ConfigError("SimParams defect_weight_* must not all be zero")
        if self.v_gate_nominal_V <= self.v_threshold_V:
            raise ConfigError("SimParams.v_gate_nominal_V must be above v_threshold_V")

    @property
    def defect_weights(self) -> tuple[float, float, float, float]:
        """Weights of (short, open, stuck_p, stuck_ap), in DefectCode order 1..4."""
        return (
            self.defect_weight_short,
            self.defect_weight_open,
            self.defect_weight_stuck_p,
            self.defect_weight_stuck_ap,
        )

    @property
    def cells_per_die(self) -> int:
        """Number of 1T-1MTJ cells on one die (20 600 by default)."""
        return sum(rows * cols for rows, cols in self.tile_shapes)


_STRICTLY_POSITIVE = (
    "r_p_median_ohm",
    "tmr_v_half_V",
    "r_on_median_ohm",
    "v_gate_nominal_V",
    "noise_floor_A_nplc1",
    "vc_p2ap_median_V",
    "vc_ap2p_median_V",
    "switching_tau0_s",
    "defect_rate_good_median",
    "defect_rate_bad_median",
    "r_short_median_ohm",
    "r_open_median_ohm",
    "r_gate_short_ohm",
)

_FRACTIONS = (
    "bad_die_probability",
    "defect_rate_good_median",
    "defect_rate_bad_median",
    "defect_rate_max",
    "gross_short_probability",
    "read_noise_rel_nplc1",
)


def _check_tile_shapes(tile_shapes: object) -> None:
    """Reject anything but a non-empty tuple of (rows, cols) positive integer pairs."""
    if not isinstance(tile_shapes, tuple) or not tile_shapes:
        raise ConfigError(f"SimParams.tile_shapes must be a non-empty tuple, got {tile_shapes!r}")
    for shape in tile_shapes:
        ok = (
            isinstance(shape, tuple)
            and len(shape) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)
        )
        if not ok:
            raise ConfigError(
                f"SimParams.tile_shapes entries must be (rows, cols) of positive ints, "
                f"got {shape!r}"
            )
