"""Device equations of a 1T-1MTJ cell and of a bit line: bias-dependent TMR, transistor
on-resistance, pinhole shunts, read noise, thermally activated switching, and the IR drop of
summed currents on a resistive bit line. Pure, vectorised functions so that tests can check each
law alone.
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


def shunted_junction(
    r_p_ohm: ArrayLike, tmr0: ArrayLike, r_shunt_ohm: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """(R_P, TMR0) of a junction with a pinhole of resistance r_shunt_ohm in parallel.

    R_P,eff = R_pin || R_P and TMR0,eff = (R_pin || R_AP) / (R_pin || R_P) - 1 at zero bias: a
    partial short keeps a little TMR. At bias the cell applies TMR(V) to TMR0,eff, which treats
    the (ohmic) pinhole like the junction; the error is a fraction of an already small TMR.
    """
    r_p = np.asarray(r_p_ohm, dtype=np.float64)
    r_ap = r_p * (1.0 + np.asarray(tmr0, dtype=np.float64))
    r_pin = np.asarray(r_shunt_ohm, dtype=np.float64)
    g_pin = 1.0 / r_pin  # 0 for no pinhole (inf)
    r_p_eff = 1.0 / (g_pin + 1.0 / r_p)
    r_ap_eff = 1.0 / (g_pin + 1.0 / r_ap)
    return r_p_eff, r_ap_eff / r_p_eff - 1.0


def bit_line_currents_A(
    v_rows_V: ArrayLike,
    r_p_ohm: FloatArray,
    tmr0: FloatArray,
    state_ap: NDArray[np.bool_],
    r_on_ohm: FloatArray,
    v_half_V: float,
    r_wire_ohm: float,
    rel_tol: float = 1e-6,
    max_iterations: int = 500,
) -> tuple[FloatArray, FloatArray]:
    """Summed current (cols,) of every bit line of a tile and its node voltages (rows, cols).

    Row i is driven at v_rows_V[i] (0 for an input bit 0: its cells conduct backwards once the bit
    line has risen). Each bit line is read at a virtual ground past row 0; the wire has r_wire_ohm
    between neighbouring rows and between row 0 and the pad, so the current of row i crosses
    i + 1 segments. Kirchhoff at every node, with each cell at its own voltage (TMR(V) included),
    is solved by damped fixed-point iteration V <- V + w (r L I(V) - V), L the cumulative
    (pad-ward) sum of the currents beyond each segment. r L diag(G) has eigenvalues in
    [0, rho], rho <= r max_col sum_i (i + 1) G_P,i, so w = 2 / (2 + rho) always converges; it
    stops when a step is below rel_tol of the largest drive. With r_wire_ohm = 0 the node
    voltages are 0 and the current is the linear sum of the cell currents.
    """
    u = np.asarray(v_rows_V, dtype=np.float64).reshape(-1, 1)
    # R(V) = base + swing / (1 + (V / V_half)^2): P cells have no swing; an off transistor
    # (r_on = inf) makes base infinite and the current 0.
    base = r_p_ohm + r_on_ohm
    swing = np.where(state_ap, r_p_ohm * tmr0, 0.0)
    inv_half = 1.0 / v_half_V

    def cell_currents(v_cell_V: FloatArray) -> FloatArray:
        r = v_cell_V * inv_half
        r *= r
        r += 1.0
        np.divide(swing, r, out=r)
        r += base
        return np.divide(v_cell_V, r, out=r)

    nodes = np.zeros(base.shape)
    if r_wire_ohm <= 0.0:
        return cell_currents(np.broadcast_to(u, base.shape)).sum(axis=0), nodes
    distance = np.arange(1, base.shape[0] + 1, dtype=np.float64)
    rho = r_wire_ohm * float((distance @ (1.0 / base)).max(initial=0.0))
    weight = 2.0 / (2.0 + rho)
    tol_V = rel_tol * float(np.abs(u).max(initial=0.0))
    for _ in range(max_iterations):
        currents = cell_currents(u - nodes)
        below = np.cumsum(currents, axis=0)
        currents -= below  # the current in the segment between row i and row i - 1 ...
        currents += below[-1]  # ... is everything from row i on
        step = np.cumsum(currents, axis=0)
        step *= r_wire_ohm
        step -= nodes
        step *= weight
        nodes += step
        if float(np.abs(step).max(initial=0.0)) <= tol_V:
            break
    return cell_currents(u - nodes).sum(axis=0), nodes


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
