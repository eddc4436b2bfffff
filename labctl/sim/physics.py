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
    """Summed current (cols,) of every bit line of a tile and its node voltages (rows, cols)
    for one row-drive vector: bit_line_currents_batch_A with a batch of one."""
    u = np.asarray(v_rows_V, dtype=np.float64).reshape(1, -1)
    summed, nodes = bit_line_currents_batch_A(
        u, r_p_ohm, tmr0, state_ap, r_on_ohm, v_half_V, r_wire_ohm,
        rel_tol=rel_tol, max_iterations=max_iterations,
    )
    return summed[0], nodes[0]


#: (image, row, col) index arrays of cells that one image of a batch reads in the other state.
Flips = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]


def bit_line_currents_batch_A(
    v_rows_V: ArrayLike,
    r_p_ohm: FloatArray,
    tmr0: FloatArray,
    state_ap: NDArray[np.bool_],
    r_on_ohm: FloatArray,
    v_half_V: float,
    r_wire_ohm: float,
    flipped: Flips | None = None,
    rel_tol: float = 1e-6,
    max_iterations: int = 500,
) -> tuple[FloatArray, FloatArray]:
    """Summed bit-line currents (n, cols) and node voltages (n, rows, cols) of a tile for a batch
    of row-drive vectors v_rows_V (n, rows), all solved together.

    Row i is driven at v_rows_V[m, i] (0 for an input bit 0: its cells conduct backwards once the
    bit line has risen). Each bit line is read at a virtual ground past row 0; the wire has
    r_wire_ohm between neighbouring rows and between row 0 and the pad, so the current of row i
    crosses i + 1 segments. Kirchhoff at every node, with each cell at its own voltage (TMR(V)
    included), is solved by damped fixed-point iteration V <- V + w (r L I(V) - V), L the
    cumulative (pad-ward) sum of the currents beyond each segment. r L diag(G) has eigenvalues in
    [0, rho], rho <= r max_col sum_i (i + 1) G_P,i, so w = 2 / (2 + rho) always converges; it
    stops when a step of every image is below rel_tol of the largest drive. With r_wire_ohm = 0
    the node voltages are 0 and the current is the linear sum of the cell currents. `flipped`
    lists cells that one image reads in the other state (intermittent cells); state_ap is not
    changed.
    """
    u = np.asarray(v_rows_V, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != r_p_ohm.shape[0]:
        raise ValueError(f"v_rows_V must be (n, {r_p_ohm.shape[0]}), got {u.shape}")
    n, rows = u.shape
    cols = r_p_ohm.shape[1]
    # R(V) = base + swing / (1 + (V / V_half)^2): P cells have no swing; an off transistor
    # (r_on = inf) makes base infinite and the current 0.
    base = r_p_ohm + r_on_ohm
    swing: FloatArray = np.where(state_ap, r_p_ohm * tmr0, 0.0)
    if flipped is not None and flipped[0].size:
        image, row, col = flipped
        swing = np.broadcast_to(swing, (n, rows, cols)).copy()
        swing[image, row, col] = np.where(
            state_ap[row, col], 0.0, r_p_ohm[row, col] * tmr0[row, col]
        )
    inv_half = 1.0 / v_half_V

    def cell_currents(v_cell_V: FloatArray) -> FloatArray:
        r = v_cell_V * inv_half
        r *= r
        r += 1.0
        np.divide(swing, r, out=r)
        r += base
        return np.divide(v_cell_V, r, out=r)

    drive = u[:, :, None]
    nodes = np.zeros((n, rows, cols))
    if r_wire_ohm <= 0.0:
        return cell_currents(np.broadcast_to(drive, nodes.shape)).sum(axis=1), nodes
    distance = np.arange(1, rows + 1, dtype=np.float64)
    rho = r_wire_ohm * float((distance @ (1.0 / base)).max(initial=0.0))
    weight = 2.0 / (2.0 + rho)
    tol_V = rel_tol * float(np.abs(u).max(initial=0.0))
    for _ in range(max_iterations):
        currents = cell_currents(drive - nodes)
        below = np.cumsum(currents, axis=1)
        currents -= below  # the current in the segment between row i and row i - 1 ...
        currents += below[:, -1:]  # ... is everything from row i on
        step = np.cumsum(currents, axis=1)
        step *= r_wire_ohm
        step -= nodes
        step *= weight
        nodes += step
        if float(np.abs(step).max(initial=0.0)) <= tol_V:
            break
    return cell_currents(drive - nodes).sum(axis=1), nodes


def binary_bit_line_currents_A(
    input_bits: NDArray[np.bool_],
    v_in_V: float,
    r_p_ohm: FloatArray,
    tmr0: FloatArray,
    state_ap: NDArray[np.bool_],
    r_on_ohm: FloatArray,
    v_half_V: float,
    r_wire_ohm: float,
    flipped: Flips | None = None,
    rel_tol: float = 1e-5,
    max_corrections: int = 3,
) -> FloatArray:
    """Summed bit-line currents (n, cols) for a batch of binary input vectors (n, rows): rows
    with bit 1 at v_in_V, the others at 0 V; the same circuit as bit_line_currents_batch_A,
    solved for many images at once in a few passes over the (n, rows, cols) cells.

    The IR drop moves each node by at most a few mV, against the V_half of TMR(V): each cell is
    expanded about its drive to second order, I(v_in - x) = I(v_in) - g x + h x^2 / 2 for a
    driven row and I(-x) = -g(0) x for an undriven one (I is odd in V, so no x^2 term). Kirchhoff
    per bit line, A x = r I, is then the tridiagonal (A + r diag(g)) x = r (c + h x^2 / 2), solved
    by the Thomas algorithm over all images and bit lines at once (factored once), and again
    for the x^2 term while it can move a cell current by more than rel_tol. Left out:
    third-order terms, (x / V_half)^2 of the IR drop's effect (measured within 1e-8 of the
    iterative solver at the default wire resistance, 2e-6 at 10x, 2e-4 at 100x; tests compare).
    """
    bits = np.asarray(input_bits, dtype=bool)
    base = r_p_ohm + r_on_ohm
    full = r_p_ohm * tmr0
    inv_half = 1.0 / v_half_V

    def tables(swing: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(I, g, h / 2) at v_in and g at 0 V for cells of this swing."""
        eps_V = 1e-4 * v_half_V
        current, slope = _cell_current_and_slope_A(np.full(swing.shape, v_in_V), base_at,
                                                   swing, inv_half)
        _, up = _cell_current_and_slope_A(np.full(swing.shape, v_in_V + eps_V), base_at,
                                          swing, inv_half)
        _, down = _cell_current_and_slope_A(np.full(swing.shape, v_in_V - eps_V), base_at,
                                            swing, inv_half)
        _, slope0 = _cell_current_and_slope_A(np.zeros(swing.shape), base_at, swing, inv_half)
        return current, slope, (up - down) / (4.0 * eps_V), slope0

    base_at = base
    stored = tables(np.where(state_ap, full, 0.0))
    # (rows, n, cols) layout: the Thomas sweeps run along axis 0 on contiguous (n, cols) slabs.
    driven = bits.T[:, :, None]
    c = np.where(driven, stored[0][:, None, :], 0.0)
    g = np.where(driven, stored[1][:, None, :], stored[3][:, None, :])
    h = np.where(driven, stored[2][:, None, :], 0.0)
    if flipped is not None and flipped[0].size:
        image, row, col = flipped
        base_at = base[row, col]
        other = tables(np.where(state_ap[row, col], 0.0, full[row, col]))
        on = bits[image, row]
        c[row, image, col] = np.where(on, other[0], 0.0)
        g[row, image, col] = np.where(on, other[1], other[3])
        h[row, image, col] = np.where(on, other[2], 0.0)
    if r_wire_ohm <= 0.0:
        summed0: FloatArray = c.sum(axis=0)
        return summed0
    # Buffers reused by every solve: a fresh (rows, n, cols) array costs more than a pass.
    inv = g * r_wire_ohm
    _factor_chain_rows(inv)
    rhs = c * r_wire_ohm
    nodes = np.empty_like(rhs)
    _solve_factored_rows(inv, rhs, nodes)
    # The x^2 term, solved again while it can move a cell's current by more than rel_tol of a
    # typical one (not at the default wire resistance: there it moves the sums by ~1e-8).
    h_max = float(np.abs(stored[2]).max(initial=0.0))
    if flipped is not None and flipped[0].size:
        h_max = max(h_max, float(np.abs(h).max(initial=0.0)))
    i_typ = float(np.median(np.abs(stored[0])))
    for _ in range(max_corrections):
        x_max = float(np.abs(nodes).max(initial=0.0))
        if h_max * x_max * x_max <= 2.0 * rel_tol * i_typ:
            break
        np.multiply(h, nodes, out=rhs)
        rhs *= nodes
        rhs += c
        rhs *= r_wire_ohm
        _solve_factored_rows(inv, rhs, nodes)
    current = np.multiply(h, nodes, out=rhs)
    current -= g
    current *= nodes
    current += c
    summed: FloatArray = current.sum(axis=0)
    return summed


def _cell_current_and_slope_A(
    v_cell_V: FloatArray, base_ohm: FloatArray, swing_ohm: FloatArray, inv_half: float
) -> tuple[FloatArray, FloatArray]:
    """Cell currents I(V) = V / R(V), R = base + swing / (1 + x^2), x = V / V_half, and their
    slopes dI/dV = (1 + 2 x^2 t / ((1 + x^2) R)) / R with t = swing / (1 + x^2) (S): positive,
    so the chain's matrix stays diagonally dominant. An off transistor gives 0 and 0."""
    x2 = v_cell_V * inv_half
    x2 *= x2
    den = x2 + 1.0
    t = swing_ohm / den
    r = t + base_ohm
    current = v_cell_V / r
    x2 /= den
    x2 *= t
    x2 += x2
    with np.errstate(invalid="ignore"):
        x2 /= r
        x2 += 1.0
        x2 /= r
    np.nan_to_num(x2, copy=False, nan=0.0)  # inf / inf
    return current, x2


def _factor_chain_rows(extra_diag: FloatArray) -> None:
    """Forward elimination of (A + diag(extra_diag)) along axis 0, in place: afterwards each
    entry is 1 / the eliminated diagonal (Thomas' c'_i = -that). A is the bit line's chain
    (-x_{i-1} + 2 x_i - x_{i+1}, x_-1 = 0 at the pad, x_i - x_{i-1} at the open far end);
    A + diag(d >= 0) is diagonally dominant, so no pivoting is needed."""
    rows = extra_diag.shape[0]
    for i in range(rows):
        extra_diag[i] += 2.0 if i < rows - 1 else 1.0
        if i:
            extra_diag[i] -= extra_diag[i - 1]
        np.divide(1.0, extra_diag[i], out=extra_diag[i])


def _solve_factored_rows(inv: FloatArray, rhs: FloatArray, x: FloatArray) -> None:
    """Solve the chain factored by _factor_chain_rows for rhs, into x (vectorised over the axes
    after the first)."""
    np.copyto(x, rhs)
    rows = x.shape[0]
    scratch = np.empty_like(x[0])
    for i in range(rows):
        if i:
            x[i] += x[i - 1]
        x[i] *= inv[i]
    for i in range(rows - 2, -1, -1):
        np.multiply(inv[i], x[i + 1], out=scratch)
        x[i] += scratch


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
