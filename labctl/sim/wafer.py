"""The virtual wafer: 36 dies of 1T-1MTJ crossbar tiles with live state, variation and defects.

Each die's devices come from ``numpy.random.default_rng([seed, die_index])`` (die_index = position
in WAFER_MAP), so a die is the same whichever order dies are visited in; read noise, intermittent
read flips and switching draw from a second per-die generator. Dies are built lazily on first use
and cached. Single-cell reads see one cell in series with its transistor; inference sums a tile's
bit-line currents through the resistive bit line (labctl.sim.physics.binary_bit_line_currents_A,
a batch of images at a time), which the training's linear emulation does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.core.defects import DefectCode
from labctl.core.wafer_map import WAFER_MAP, die_name
from labctl.sim.defects_model import (
    apply_defect_physics,
    apply_line_failures,
    draw_cell_defects,
    draw_die_defect_rate,
    draw_intermittent,
    draw_line_failures,
)
from labctl.sim.params import SimParams
from labctl.sim.physics import (
    Flips,
    binary_bit_line_currents_A,
    cell_current_A,
    mtj_resistance_ohm,
    noise_current_A,
    noise_sigma_A,
    on_resistance_ohm,
    switching_probability,
)

__all__ = ["DieModel", "TileTruth", "VirtualWafer", "noise_current_A"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Third seed word of the dynamic (noise, switching) generator, distinct from device parameters.
_DYNAMIC_STREAM = 1

#: Images whose bit lines are solved together in batched inference (bounds the memory to a few
#: (chunk, rows, cols) arrays of float64: 32 x 196 x 100 x 8 B = 5 MB each).
BATCH_CHUNK = 32

#: Defect codes whose free layer follows write pulses.
_SWITCHABLE = np.array([DefectCode.OK, DefectCode.SHORT], dtype=np.uint8)


@dataclass(frozen=True)
class TileTruth:
    """Ground truth of one tile, (rows, cols) arrays, copied at the time of the call.

    r_p_ohm and tmr0 are the effective MTJ values (a short: junction and pinhole in parallel,
    a few % TMR; an open: its resistance, TMR 0); r_on_ohm is the access transistor at the nominal
    gate voltage; intermittent marks working cells whose reads flip at random.
    """

    r_p_ohm: FloatArray
    tmr0: FloatArray
    r_on_ohm: FloatArray
    defects: NDArray[np.uint8]
    state_ap: NDArray[np.bool_]
    vc_p2ap_V: FloatArray
    vc_ap2p_V: FloatArray
    intermittent: NDArray[np.bool_]

    def as_dict(self) -> dict[str, np.ndarray]:
        """Field name -> array."""
        return {
            "r_p_ohm": self.r_p_ohm,
            "tmr0": self.tmr0,
            "r_on_ohm": self.r_on_ohm,
            "defects": self.defects,
            "state_ap": self.state_ap,
            "vc_p2ap_V": self.vc_p2ap_V,
            "vc_ap2p_V": self.vc_ap2p_V,
            "intermittent": self.intermittent,
        }


@dataclass
class _Tile:
    """Mutable per-tile arrays of a die (state_ap changes with writes)."""

    r_p_ohm: FloatArray
    tmr0: FloatArray
    r_on_ohm: FloatArray
    defects: NDArray[np.uint8]
    state_ap: NDArray[np.bool_]
    vc_p2ap_V: FloatArray
    vc_ap2p_V: FloatArray
    intermittent: NDArray[np.bool_]


class DieModel:
    """One die: its tiles' devices, defects and live P/AP state, and the operations on them."""

    def __init__(self, seed: int, die_index: int, params: SimParams) -> None:
        self.col, self.row = WAFER_MAP[die_index]
        self.name = die_name(self.col, self.row)
        self.die_index = die_index
        self.params = params
        rng = np.random.default_rng([seed, die_index])
        self._dynamic_rng = np.random.default_rng([seed, die_index, _DYNAMIC_STREAM])

        p = params
        # Die-level draws first, in a fixed order.
        self.r_p_die_median_ohm = p.r_p_median_ohm * _lognormal_factor(rng, p.r_p_die_sigma_log)
        self.tmr_die_median = p.tmr_median * _lognormal_factor(rng, p.tmr_die_sigma_log)
        self.v_threshold_V = p.v_threshold_V + p.v_threshold_die_sigma_V * rng.standard_normal()
        vc_die_factor = _lognormal_factor(rng, p.vc_die_sigma_log)
        #: fraction of cells given a random defect (whole-line failures come on top).
        self.random_defect_rate = draw_die_defect_rate(rng, p)
        self.gross_short: bool = bool(rng.random() < p.gross_short_probability)
        #: failed lines as (tile, "row" | "col", index); all their cells are open.
        self.line_failures = draw_line_failures(rng, p)

        self._tiles: list[_Tile] = []
        for shape in p.tile_shapes:
            self._tiles.append(self._draw_tile(rng, shape, vc_die_factor))
        apply_line_failures([t.defects for t in self._tiles], self.line_failures)
        for tile in self._tiles:
            self._apply_defect_physics(rng, tile)
        # Drawn last, so that every earlier draw is the same as without intermittent cells.
        for tile in self._tiles:
            tile.intermittent = draw_intermittent(rng, tile.defects, p)

    # --- construction ---------------------------------------------------------------------------
    def _draw_tile(
        self, rng: np.random.Generator, shape: tuple[int, int], vc_die_factor: float
    ) -> _Tile:
        p = self.params
        vc_device = np.exp(p.vc_device_sigma_log * rng.standard_normal((2, *shape)))
        return _Tile(
            r_p_ohm=self.r_p_die_median_ohm
            * np.exp(p.r_p_device_sigma_log * rng.standard_normal(shape)),
            tmr0=self.tmr_die_median * np.exp(p.tmr_device_sigma_log * rng.standard_normal(shape)),
            r_on_ohm=p.r_on_median_ohm
            * np.exp(p.r_on_device_sigma_log * rng.standard_normal(shape)),
            defects=draw_cell_defects(rng, shape, self.random_defect_rate, p),
            state_ap=rng.random(shape) < 0.5,
            vc_p2ap_V=p.vc_p2ap_median_V * vc_die_factor * vc_device[0],
            vc_ap2p_V=p.vc_ap2p_median_V * vc_die_factor * vc_device[1],
            intermittent=np.zeros(shape, dtype=bool),
        )

    def _apply_defect_physics(self, rng: np.random.Generator, tile: _Tile) -> None:
        apply_defect_physics(rng, tile.defects, tile.r_p_ohm, tile.tmr0, tile.state_ap, self.params)

    # --- geometry and truth ---------------------------------------------------------------------
    @property
    def n_tiles(self) -> int:
        return len(self._tiles)

    def tile_shape(self, tile: int) -> tuple[int, int]:
        """(rows, cols) of tile `tile`."""
        shape = self._tile(tile).state_ap.shape
        return int(shape[0]), int(shape[1])

    def truth(self, tile: int) -> TileTruth:
        """Ground truth of one tile (copies; state_ap is the state at the time of the call)."""
        t = self._tile(tile)
        return TileTruth(
            r_p_ohm=t.r_p_ohm.copy(),
            tmr0=t.tmr0.copy(),
            r_on_ohm=t.r_on_ohm.copy(),
            defects=t.defects.copy(),
            state_ap=t.state_ap.copy(),
            vc_p2ap_V=t.vc_p2ap_V.copy(),
            vc_ap2p_V=t.vc_ap2p_V.copy(),
            intermittent=t.intermittent.copy(),
        )

    def truth_arrays(self) -> dict[str, np.ndarray]:
        """All ground truth of the die: keys ``tile<k>/<field>`` (fields of TileTruth)."""
        out: dict[str, np.ndarray] = {}
        for k in range(self.n_tiles):
            for field, array in self.truth(k).as_dict().items():
                out[f"tile{k}/{field}"] = array
        return out

    def defect_rate(self) -> float:
        """Fraction of all cells with any defect (random cells plus failed lines)."""
        n_bad = sum(int(np.count_nonzero(t.defects)) for t in self._tiles)
        return n_bad / sum(t.defects.size for t in self._tiles)

    def cell_resistance_ohm(
        self, tile: int, v_read_V: float, v_gate_V: float | None = None
    ) -> FloatArray:
        """Noise-free (rows, cols) resistance MTJ + transistor at this bias: what a read measures.

        v_gate_V defaults to the nominal gate voltage; inf where the transistor is off.
        """
        t = self._tile(tile)
        v_gate = self.params.v_gate_nominal_V if v_gate_V is None else v_gate_V
        r_mtj = mtj_resistance_ohm(
            t.r_p_ohm, t.tmr0, t.state_ap, abs(v_read_V), self.params.tmr_v_half_V
        )
        return r_mtj + self._r_on(t.r_on_ohm, v_gate)

    # --- operations -----------------------------------------------------------------------------
    def read_current_A(
        self,
        tile: int,
        rows_idx: ArrayLike,
        cols_idx: ArrayLike,
        v_read_V: float,
        v_gate_V: float,
        nplc: float = 1.0,
    ) -> FloatArray:
        """Measured current (A) of each addressed cell at read bias v_read_V, with read noise
        (and, for an intermittent cell, sometimes the opposite state's current)."""
        t = self._tile(tile)
        rows, cols = self._indices(t, rows_idx, cols_idx)
        state = t.state_ap[rows, cols]
        flaky = t.intermittent[rows, cols]
        if flaky.any():
            flips = self._dynamic_rng.random(int(flaky.sum()))
            state[flaky] ^= flips < self.params.intermittent_flip_probability
        ideal = self._ideal_current_A(t, rows, cols, v_read_V, v_gate_V, state)
        return ideal + self._dynamic_rng.normal(0.0, 1.0, ideal.shape) * noise_sigma_A(
            ideal, nplc, self.params
        )

    def ideal_current_A(
        self, tile: int, rows_idx: ArrayLike, cols_idx: ArrayLike, v_read_V: float, v_gate_V: float
    ) -> FloatArray:
        """read_current_A without noise (for checks against ground truth)."""
        t = self._tile(tile)
        rows, cols = self._indices(t, rows_idx, cols_idx)
        return self._ideal_current_A(t, rows, cols, v_read_V, v_gate_V)

    def write(
        self,
        tile: int,
        rows_idx: ArrayLike,
        cols_idx: ArrayLike,
        target_ap: ArrayLike,
        amplitude_V: float,
        width_s: float,
    ) -> None:
        """One write pulse per addressed cell towards its target state (polarity from the target).

        A cell already in its target state is left alone; otherwise it switches with the thermally
        activated probability of its own critical voltage. Shorts switch too (their pinhole only
        shunts the read); opens and stuck cells ignore writes. Cells listed twice get two pulses.
        """
        if amplitude_V < 0:
            raise ValueError(f"pulse amplitude is a magnitude, got {amplitude_V!r} V")
        if width_s < 0:
            raise ValueError(f"pulse width must be >= 0 s, got {width_s!r}")
        t = self._tile(tile)
        rows, cols = self._indices(t, rows_idx, cols_idx)
        target = np.broadcast_to(np.asarray(target_ap, dtype=bool), rows.shape)
        for first, last in _unique_runs(rows, cols, t.state_ap.shape[1]):
            self._pulse(
                t, rows[first:last], cols[first:last], target[first:last], amplitude_V, width_s
            )

    def infer_currents_A(
        self,
        tile: int,
        input_bits: ArrayLike,
        v_in_V: float,
        v_gate_V: float,
        nplc: float = 1.0,
    ) -> FloatArray:
        """Summed bit-line currents (cols,): rows with input bit 1 driven at v_in_V, others at 0.

        Through the resistive bit line (IR drop, each cell's TMR at its own voltage, backward
        current in undriven rows), intermittent cells in a randomly read state, plus read noise
        on each sum. ideal_infer_currents_A is the same without flips and noise.
        """
        bits = np.asarray(input_bits, dtype=bool)
        return self.infer_batch_currents_A(tile, bits[None], v_in_V, v_gate_V, nplc)[0]

    def infer_batch_currents_A(
        self,
        tile: int,
        input_bits: ArrayLike,
        v_in_V: float,
        v_gate_V: float,
        nplc: float = 1.0,
    ) -> FloatArray:
        """infer_currents_A for a batch of input vectors (n, rows): currents (n, cols).

        Every image reads the intermittent cells afresh and gets its own read noise; the nodal
        solve runs on chunks of BATCH_CHUNK images at once (same result as one by one)."""
        t = self._tile(tile)
        bits = np.asarray(input_bits, dtype=bool)
        if bits.ndim != 2:
            raise ValueError(f"input_bits must be (n, rows), got shape {bits.shape}")
        out = np.empty((bits.shape[0], t.state_ap.shape[1]))
        flaky = np.nonzero(t.intermittent)
        p_flip = self.params.intermittent_flip_probability
        for start in range(0, bits.shape[0], BATCH_CHUNK):
            chunk = bits[start : start + BATCH_CHUNK]
            flipped = None
            if flaky[0].size:
                image, which = np.nonzero(
                    self._dynamic_rng.random((chunk.shape[0], flaky[0].size)) < p_flip
                )
                flipped = (image, flaky[0][which], flaky[1][which])
            summed = self._bit_lines_A(t, chunk, v_in_V, v_gate_V, t.state_ap, flipped)
            out[start : start + chunk.shape[0]] = summed + self._dynamic_rng.normal(
                0.0, 1.0, summed.shape
            ) * noise_sigma_A(summed, nplc, self.params)
        return out

    def ideal_infer_currents_A(
        self, tile: int, input_bits: ArrayLike, v_in_V: float, v_gate_V: float
    ) -> FloatArray:
        """infer_currents_A without read noise and intermittent flips (for checks)."""
        t = self._tile(tile)
        bits = np.asarray(input_bits, dtype=bool)
        return self._bit_lines_A(t, bits[None], v_in_V, v_gate_V, t.state_ap)[0]

    def gate_current_A(self, v_gate_V: float) -> float:
        """Word-line current at gate voltage v_gate_V: ~mA on a die with a gross gate short."""
        conductance_S = (
            1.0 / self.params.r_gate_short_ohm if self.gross_short else self.params.gate_leakage_S
        )
        noise = noise_current_A(1, 1.0, self._dynamic_rng, self.params)[0]
        return float(v_gate_V * conductance_S + noise)

    def noise_current_A(self, n: int, nplc: float = 1.0) -> FloatArray:
        """n open-circuit readings drawn from this die's dynamic generator."""
        return noise_current_A(n, nplc, self._dynamic_rng, self.params)

    # --- internals ------------------------------------------------------------------------------
    def _tile(self, tile: int) -> _Tile:
        if not 0 <= tile < len(self._tiles):
            raise IndexError(f"tile {tile} not on {self.name} (0 ... {len(self._tiles) - 1})")
        return self._tiles[tile]

    def _indices(
        self, t: _Tile, rows_idx: ArrayLike, cols_idx: ArrayLike
    ) -> tuple[IntArray, IntArray]:
        rows = np.asarray(rows_idx, dtype=np.intp).ravel()
        cols = np.asarray(cols_idx, dtype=np.intp).ravel()
        if rows.shape != cols.shape:
            raise ValueError(f"rows_idx and cols_idx differ in length: {rows.size} != {cols.size}")
        n_rows, n_cols = t.state_ap.shape
        if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
            raise IndexError(f"row index out of range 0 ... {n_rows - 1}")
        if cols.size and (cols.min() < 0 or cols.max() >= n_cols):
            raise IndexError(f"column index out of range 0 ... {n_cols - 1}")
        return rows, cols

    def _r_on(self, r_on_nominal_ohm: FloatArray, v_gate_V: float) -> FloatArray:
        return on_resistance_ohm(
            r_on_nominal_ohm, v_gate_V, self.v_threshold_V, self.params.v_gate_nominal_V
        )

    def _ideal_current_A(
        self,
        t: _Tile,
        rows: IntArray,
        cols: IntArray,
        v_V: float,
        v_gate_V: float,
        state_ap: NDArray[np.bool_] | None = None,
    ) -> FloatArray:
        """Noise-free current of single cells (state_ap: the states read, default the stored)."""
        r_mtj = mtj_resistance_ohm(
            t.r_p_ohm[rows, cols],
            t.tmr0[rows, cols],
            t.state_ap[rows, cols] if state_ap is None else state_ap,
            abs(v_V),
            self.params.tmr_v_half_V,
        )
        return cell_current_A(v_V, r_mtj, self._r_on(t.r_on_ohm[rows, cols], v_gate_V))

    def _bit_lines_A(
        self,
        t: _Tile,
        input_bits: NDArray[np.bool_],
        v_in_V: float,
        v_gate_V: float,
        state_ap: NDArray[np.bool_],
        flipped: Flips | None = None,
    ) -> FloatArray:
        """Noise-free summed current (n, cols) of every bit line for a batch of input vectors
        (n, rows), the cell states and the cells each image reads flipped."""
        n_rows = t.state_ap.shape[0]
        if input_bits.ndim != 2 or input_bits.shape[1] != n_rows:
            raise ValueError(
                f"input_bits must have one bit per row, shape ({n_rows},), "
                f"got {input_bits.shape[1:]}"
            )
        v_half = self.params.tmr_v_half_V
        r_wire = self.params.r_wire_bitline_ohm
        r_on = self._r_on(t.r_on_ohm, v_gate_V)
        if r_wire <= 0.0 and flipped is None:  # linear summing: only the driven rows conduct
            r_mtj = mtj_resistance_ohm(t.r_p_ohm, t.tmr0, state_ap, abs(v_in_V), v_half)
            per_cell = cell_current_A(v_in_V, r_mtj, r_on)
            summed: FloatArray = input_bits.astype(np.float64) @ per_cell
            return summed
        return binary_bit_line_currents_A(
            input_bits, v_in_V, t.r_p_ohm, t.tmr0, state_ap, r_on, v_half, r_wire, flipped
        )

    def _pulse(
        self,
        t: _Tile,
        rows: IntArray,
        cols: IntArray,
        target: NDArray[np.bool_],
        amplitude_V: float,
        width_s: float,
    ) -> None:
        """One pulse to each of a set of distinct cells."""
        # A pinhole leaves the free layer switchable (Wu et al., ITC 2018): shorts take writes.
        switchable = np.isin(t.defects[rows, cols], _SWITCHABLE)
        writable = switchable & (t.state_ap[rows, cols] != target)
        rows, cols, target = rows[writable], cols[writable], target[writable]
        vc = np.where(target, t.vc_p2ap_V[rows, cols], t.vc_ap2p_V[rows, cols])
        p_switch = switching_probability(amplitude_V, width_s, vc, self.params)
        switched = self._dynamic_rng.random(rows.size) < p_switch
        t.state_ap[rows[switched], cols[switched]] = target[switched]


class VirtualWafer:
    """The 36 dies of WAFER_MAP, each built on first use from (seed, die index)."""

    def __init__(self, seed: int, params: SimParams | None = None) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.params = params if params is not None else SimParams()
        self._index = {pos: i for i, pos in enumerate(WAFER_MAP)}
        self._dies: dict[int, DieModel] = {}

    def die(self, col: int, row: int) -> DieModel:
        """The die at map position (col, row); KeyError if there is no die there."""
        index = self._index.get((col, row))
        if index is None:
            raise KeyError(f"no die at map position col={col}, row={row}")
        model = self._dies.get(index)
        if model is None:
            model = DieModel(self.seed, index, self.params)
            self._dies[index] = model
        return model

    def dies(self) -> Iterator[DieModel]:
        """Every die, in wafer-map (prober stepping) order."""
        for col, row in WAFER_MAP:
            yield self.die(col, row)


def _lognormal_factor(rng: np.random.Generator, sigma_log: float) -> float:
    return float(np.exp(sigma_log * rng.standard_normal()))


def _unique_runs(rows: IntArray, cols: IntArray, n_cols: int) -> list[tuple[int, int]]:
    """Split the index list into consecutive runs without a repeated cell, so that a cell listed
    twice gets two pulses in order (the common case, no repeats, is one run)."""
    flat = rows * n_cols + cols
    if np.unique(flat).size == flat.size:
        return [(0, flat.size)] if flat.size else []
    runs: list[tuple[int, int]] = []
    start = 0
    seen: set[int] = set()
    for i, cell in enumerate(flat.tolist()):
        if cell in seen:
            runs.append((start, i))
            start, seen = i, set()
        seen.add(cell)
    runs.append((start, flat.size))
    return runs
