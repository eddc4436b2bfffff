"""Every number of the virtual wafer's physics in one frozen, validated parameter set.

Each field's comment gives its unit and where the default comes from: a paper, a textbook
derivation, or "assumption" with the plausible literature range; docs/model.md has the same
table with the references in full. Log-normal spreads are the standard deviation of the natural
logarithm (``*_sigma_log``): 0.05 means about 5 % relative spread. Any field can be set from a TOML
file (labctl.sim.params_file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from labctl.core.errors import ConfigError
from labctl.core.geometry import DEFAULT_TILE_SHAPES


@dataclass(frozen=True)
class SimParams:
    """Physics of the simulated dies: geometry, resistances, noise, switching, defects, wires."""

    # --- geometry -------------------------------------------------------------------------------
    #: (rows, cols) of each crossbar tile: layers of a 196-100-10 binary network by default
    #: (Borders et al., Phys. Rev. Applied 21, 054028 (2024): ~20 000 MTJs per die).
    tile_shapes: tuple[tuple[int, int], ...] = DEFAULT_TILE_SHAPES

    # --- MTJ resistance and TMR -----------------------------------------------------------------
    #: ohm; wafer median R_P. Textbook: RA ~ 5 ohm um^2 at ~45 nm diameter; range 1-10 kOhm.
    r_p_median_ohm: float = 3000.0
    #: -; die-to-die spread of a die's median R_P. Assumption (wafer RA non-uniformity 2-10 %).
    r_p_die_sigma_log: float = 0.05
    #: -; cell-to-cell spread of R_P within a die. Textbook: a few % (range 2-10 %).
    r_p_device_sigma_log: float = 0.04
    #: fraction; wafer median zero-bias TMR (1.5 = 150 %). CoFeB/MgO at room temperature:
    #: 100-200 % in memory stacks (textbook; range 0.8-2.5).
    tmr_median: float = 1.5
    #: -; die-to-die spread of a die's median TMR. Assumption (range 2-10 %).
    tmr_die_sigma_log: float = 0.04
    #: -; cell-to-cell spread of TMR within a die. Assumption (range 2-10 %).
    tmr_device_sigma_log: float = 0.05
    #: V; bias at which TMR has halved: TMR(V) = TMR0 / (1 + (V / V_half)^2). MgO junctions lose
    #: TMR strongly above ~0.5 V (Gonzalez-Ruano et al., arXiv:2110.05061); alumina junctions
    #: halve at 0.22-0.23 V (IBM, J. Appl. Phys. 1998). Range 0.3-1.1 V.
    tmr_v_half_V: float = 0.5

    # --- access transistor ----------------------------------------------------------------------
    #: ohm; median on-resistance at the nominal gate voltage. Derived: R_on = 1 / (k' (W/L) V_ov)
    #: with the 65 nm textbook k' = 470 uA/V^2 (Sedra/Smith) gives 0.95 kOhm at W/L = 3,
    #: V_ov = 0.75 V; a cell sized to drive ~100 uA write currents. Range 1-5 kOhm.
    r_on_median_ohm: float = 1000.0
    #: -; cell-to-cell spread of R_on. Assumption (V_th and mobility variation; range 2-10 %).
    r_on_device_sigma_log: float = 0.05
    #: V; word-line (gate) voltage at which r_on_median_ohm holds. Assumption: core supply of a
    #: 65-130 nm node (range 1.0-1.5 V).
    v_gate_nominal_V: float = 1.2
    #: V; median NMOS threshold: at or below it no read current. Assumption (range 0.3-0.5 V).
    v_threshold_V: float = 0.45
    #: V; die-to-die spread of the threshold voltage (normal). Assumption (range 10-30 mV).
    v_threshold_die_sigma_V: float = 0.02

    # --- read noise -----------------------------------------------------------------------------
    #: fraction; relative current noise (1 sigma) at NPLC = 1, falling as 1 / sqrt(NPLC).
    #: Assumption (device 1/f plus bench noise; range 0.1-1 %).
    read_noise_rel_nplc1: float = 0.003
    #: A; absolute noise floor (1 sigma) at NPLC = 1. Assumption: SMU low-current noise plus
    #: probe leakage (range 0.1-10 pA).
    noise_floor_A_nplc1: float = 1e-12

    # --- switching (thermally activated, critical voltage at the cell terminals) ----------------
    #: V; median critical voltage of P -> AP switching. Textbook STT: 0.3-0.6 V.
    vc_p2ap_median_V: float = 0.45
    #: V; median critical voltage of AP -> P (lower: AP -> P is easier). Textbook asymmetry.
    vc_ap2p_median_V: float = 0.40
    #: -; die-to-die spread of the critical voltages. Assumption (range 1-5 %).
    vc_die_sigma_log: float = 0.02
    #: -; cell-to-cell spread of the critical voltages. Assumption (range 3-10 %).
    vc_device_sigma_log: float = 0.05
    #: s; switching time at V = Vc; below Vc tau = tau0 exp(Delta (1 - V/Vc)), above tau0 Vc / V.
    #: Assumption: textbook attempt time ~1 ns; 5 ns makes 10 ns pulses fail sometimes.
    switching_tau0_s: float = 5e-9
    #: -; thermal stability Delta = E_b / k_B T. Textbook: 40-80 for 10-year retention.
    thermal_stability: float = 60.0

    # --- cell defects ---------------------------------------------------------------------------
    #: fraction of dies from the "bad die" component of the defect-rate mixture. Assumption.
    bad_die_probability: float = 0.10
    #: fraction; median cell defect rate of a good die. Assumption (typical die 0.2-1 %).
    defect_rate_good_median: float = 0.0035
    #: -; log-normal spread of a good die's defect rate. Assumption.
    defect_rate_good_sigma_log: float = 0.4
    #: fraction; median cell defect rate of a bad die. Assumption (worst dies a few %).
    defect_rate_bad_median: float = 0.025
    #: -; log-normal spread of a bad die's defect rate. Assumption.
    defect_rate_bad_sigma_log: float = 0.4
    #: fraction; cap on any die's random cell defect rate. Assumption.
    defect_rate_max: float = 0.10
    #: -; relative weights of the defect types (normalised when drawn). Assumption: barrier
    #: breakdown (pinholes) the most common MTJ manufacturing defect (Wu et al., ETS 2019).
    defect_weight_short: float = 0.3
    defect_weight_open: float = 0.2
    defect_weight_stuck_p: float = 0.25
    defect_weight_stuck_ap: float = 0.25
    #: ohm; median resistance of a barrier pinhole, a shunt IN PARALLEL with the junction
    #: (partial short: the cell keeps a few % TMR). Pinholes are parallel conduction paths that
    #: lower R and TMR (Wu et al., ETS 2019 / ITC 2018; Akerman et al., JMMM 240, 86 (2002));
    #: a Sharvin point contact of radius 0.5-2 nm is ~0.1-1.7 kOhm. Range 100 ohm - 5 kOhm.
    r_short_median_ohm: float = 500.0
    #: -; log-normal spread of the pinhole resistance (2 sigma: 270 - 900 ohm). Assumption (range
    #: 0.3-1): wider spreads give kOhm pinholes that read like low stuck-P cells, not shorts.
    r_short_sigma_log: float = 0.3
    #: ohm; median resistance of an open cell (missing via). Assumption: current at noise level.
    r_open_median_ohm: float = 1e10
    #: -; log-normal spread of the open resistance. Assumption.
    r_open_sigma_log: float = 0.5
    #: lines/die; mean number of whole-line failures per die (Poisson; cells read open).
    #: Assumption.
    line_failures_per_die_mean: float = 0.1
    #: fraction of working cells that are intermittent: each read sees the opposite state with
    #: intermittent_flip_probability (telegraph-like reads of weak or intermediate-state cells,
    #: Wu et al., "Characterization and fault modeling of intermediate state defects in
    #: STT-MRAM", DATE 2021). Assumption (range 1e-4 - 1e-2).
    intermittent_fraction: float = 0.001
    #: probability that one read of an intermittent cell sees the opposite state. Assumption
    #: (range 0.01-0.5).
    intermittent_flip_probability: float = 0.1

    # --- wires ----------------------------------------------------------------------------------
    #: ohm; bit-line wire resistance per cell segment: the IR drop of summed currents in INFER.
    #: Assumption, kept low: a wide thick-metal bit line (~0.005 ohm per cell) loses ~1 % of a
    #: 196-row tile's current. Upper-metal lines of a research chip are ~0.02-0.1 ohm per cell
    #: (loss 4-18 %), minimum-width lines 0.5-2.5 ohm (crossbar IR-drop studies; loss 50-77 %);
    #: see docs/model.md. 0 = linear summing, as the training's emulation assumes.
    r_wire_bitline_ohm: float = 0.005

    # --- die-level gate short -------------------------------------------------------------------
    #: probability that a die has a gross word-line (gate) short. Assumption.
    gross_short_probability: float = 0.03
    #: ohm; resistance of a gross gate short (the gate SMU sees ~mA). Assumption.
    r_gate_short_ohm: float = 1000.0
    #: S; gate leakage of a healthy die (all word lines). Assumption (~nA; range 0.1-10 nS).
    gate_leakage_S: float = 1e-9

    def __post_init__(self) -> None:
        _check_tile_shapes(self.tile_shapes)
        for field in fields(self):
            if field.name == "tile_shapes":
                continue
            value = getattr(self, field.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise ConfigError(f"SimParams.{field.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ConfigError(f"SimParams.{field.name} must not be negative, got {value!r}")
        for name in _STRICTLY_POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(f"SimParams.{name} must be > 0, got {getattr(self, name)!r}")
        for name in _FRACTIONS:
            if getattr(self, name) > 1:
                raise ConfigError(f"SimParams.{name} must be <= 1, got {getattr(self, name)!r}")
        for field in fields(self):
            if field.name.endswith("_sigma_log") and getattr(self, field.name) > _MAX_SIGMA_LOG:
                raise ConfigError(
                    f"SimParams.{field.name} must be <= {_MAX_SIGMA_LOG} (a factor of "
                    f"{math.exp(_MAX_SIGMA_LOG):.0f} per sigma), got {getattr(self, field.name)!r}"
                )
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


#: Largest log-normal spread accepted: beyond it a "sigma" is almost surely a unit mistake.
_MAX_SIGMA_LOG = 3.0

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
    "intermittent_fraction",
    "intermittent_flip_probability",
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
