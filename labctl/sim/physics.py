"""Device equations of a 1T-1MTJ cell: bias-dependent TMR, transistor on-resistance, read noise,
thermally activated switching. Pure, vectorised functions so that tests can check each law alone.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.sim.params import SimParams

FloatArray = NDArray[np.float64]


def tmr_at_bias(tmr0: ArrayLike, v_V: ArrayLike, v_half_V: float) -> FloatArray:
    """TMR(V) = TMR0 / (1 + (V / V_half)^2): the AP resistance falls with bias, symmetric in V."""
    ratio = np.asarray(v_V, dtype=np.float64) / v_half_V
    return np.asarray(tmr0, dtype=np.float64) / (1.0 + ratio * ratio)


def mtj_resistance_ohm(
    r_p_ohm: ArrayLike, tmr0: ArrayLike, state_ap: ArrayLike, v_V: ArrayLike, v_half_V: float
) -> FloatArray:
    """MTJ resistance at bias v_V: R_P in state P, R_P (1 + TMR(V)) in state AP."""
    r_p = np.asarray(r_p_ohm, dtype=np.float64)
    factor = 1.0 + np.where(np.asarray(state_ap, dtype=bool), tmr_at_bias(tmr0, v_V, v_half_V), 0.0)
    return r_p * factor


def on_resistance_ohm(
    r_on_nominal_ohm: ArrayLike, v_gate_V: float, v_threshold_V: float, v_gate_nominal_V: float
) -> FloatArray:
    """Access-transistor resistance in the linear region, R_on ~ 1 / (V_gs - V_th).

    Equals r_on_nominal_ohm at v_gate_nominal_V; infinite (off) at or below the threshold.
    """
    r_nom = np.asarray(r_on_nominal_ohm, dtype=np.float64)
    overdrive_V = v_gate_V - v_threshold_V
    if overdrive_V <= 0.0:
        return np.full_like(r_nom, np.inf)
    return r_nom * ((v_gate_nominal_V - v_threshold_V) / overdrive_V)


def cell_current_A(v_V: float, r_mtj_ohm: ArrayLike, r_on_ohm: ArrayLike) -> FloatArray:
    """Noise-free current through MTJ and transistor in series (0 when either is infinite)."""
    total = np.asarray(r_mtj_ohm, dtype=np.float64) + np.asarray(r_on_ohm, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(total), v_V / total, 0.0)


def noise_sigma_A(current_A: ArrayLike, nplc: float, params: SimParams) -> FloatArray:
    """1-sigma read noise: relative and floor terms in quadrature, both falling as 1/sqrt(NPLC)."""
    if not nplc > 0:
        raise ValueError(f"nplc must be > 0, got {nplc!r}")
    rel = params.read_noise_rel_nplc1 * np.abs(np.asarray(current_A, dtype=np.float64))
    return np.hypot(rel, params.noise_floor_A_nplc1) / np.sqrt(nplc)


def noise_current_A(
    n: int, nplc: float, rng: np.random.Generator, params: SimParams | None = None
) -> FloatArray:
    """n readings of an open circuit (probes lifted, transistor off): the noise floor only."""
    floor_A = (params or _DEFAULT_PARAMS).noise_floor_A_nplc1
    if not nplc > 0:
        raise ValueError(f"nplc must be > 0, got {nplc!r}")
    return rng.normal(0.0, floor_A / np.sqrt(nplc), size=n)


def switching_time_s(amplitude_V: float, vc_V: ArrayLike, params: SimParams) -> FloatArray:
    """Mean switching time of a pulse of amplitude_V against critical voltage vc_V.

    Thermally activated below Vc: tau0 exp(Delta (1 - V/Vc)); above Vc the precessional regime,
    approximated as tau0 Vc / V (continuous at V = Vc). Infinite for a zero amplitude.
    """
    vc = np.asarray(vc_V, dtype=np.float64)
    v = abs(float(amplitude_V))
    if v == 0.0:
        return np.full_like(vc, np.inf)
    tau0 = params.switching_tau0_s
    exponent = params.thermal_stability * (1.0 - v / vc)
    with np.errstate(over="ignore"):
        thermal = tau0 * np.exp(exponent)
    return np.where(v < vc, thermal, tau0 * vc / v)


def switching_probability(
    amplitude_V: float, width_s: float, vc_V: ArrayLike, params: SimParams
) -> FloatArray:
    """P_sw = 1 - exp(-width / tau): probability that one pulse switches the free layer."""
    if width_s < 0:
        raise ValueError(f"pulse width must be >= 0 s, got {width_s!r}")
    tau = switching_time_s(amplitude_V, vc_V, params)
    return -np.expm1(-width_s / tau)


_DEFAULT_PARAMS = SimParams()
