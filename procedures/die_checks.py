"""Checks made on a freshly contacted die before it is characterised.

* Contact: a few rows of every tile are read; if every reading sits at open-circuit level the
  probes did not land (or the die is dead). The sweep separates, re-contacts once and checks
  again before it gives up on the die.
* Contact held: the contact check keeps, as a reference, the checked row with the most
  conducting cells. Reading it again after every measurement pass proves that the probes stayed
  down for the whole pass (contact lost stays lost until the chuck moves); a pass after which it
  reads open is measured again after re-contacting, never kept.
* Gate leakage: the word-line SMU's current at the gate voltage. A healthy die leaks nA; a gross
  gate short draws mA (or trips the current limit). Characterising such a die would only
  heat the short, so it is failed with the measured figure. Two readings must agree on the
  verdict, so a garbled or spiking reading neither fails a good die nor passes a short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labctl.core.errors import InstrumentError, LabctlError
from labctl.station import array_ops
from labctl.station.station import Station
from procedures.timing import CHECK_NPLC, CONTACT_CHECK_ROWS_PER_TILE

#: A cell in series with its transistor reads 1e3 ... 1e5 ohm; a lifted probe reads the SMU's
#: noise floor (>= 1e10 ohm at 0.1 V). Any reading below this splits the decades in between and
#: proves contact.
CONTACT_OPEN_OHM = 1e7

#: Default gate-leakage limit: 1000x a healthy die's word-line leakage (~1 nA at 1.2 V) and
#: 1000x below a gross short (~1 mA).
DEFAULT_MAX_GATE_LEAKAGE_A = 1e-6


class DieCheckFailed(LabctlError):
    """A die that must not (or cannot) be characterised; the message is the failure reason."""


def contact_check_rows(n_rows: int) -> list[int]:
    """Rows read by the contact check: first and middle (a failed word line can open a whole
    row, so one row alone could fake an open contact)."""
    return sorted({0, n_rows // 2})[:CONTACT_CHECK_ROWS_PER_TILE]


@dataclass(frozen=True)
class ContactReference:
    """A row that conducted at contact time, and which of its cells did."""

    tile: int
    row: int
    columns: np.ndarray  # indices of the cells that conducted

    def held(self, readings_ohm: np.ndarray) -> bool:
        """Whether a new read of the row shows the contact: most reference cells conduct."""
        conducting = np.count_nonzero(np.asarray(readings_ohm)[self.columns] < CONTACT_OPEN_OHM)
        return bool(2 * conducting >= self.columns.size)


RowReader = Callable[[int, int], np.ndarray]


def find_contact_reference(
    station: Station, n_tiles: int, read_row: RowReader | None = None
) -> ContactReference | None:
    """Read the sampled rows of every tile; None when every reading is at open-circuit level,
    else the row with the most conducting cells (the reference of :func:`contact_held`).
    ``read_row(tile, row)`` reads one row (default: one check acquisition; a caller passes its
    retrying version so that a failed row is read again, not the whole check)."""
    if read_row is None:
        def read_row(tile: int, row: int) -> np.ndarray:
            return array_ops.read_row_resistance_ohm(station, tile, row, nplc=CHECK_NPLC)

    best: ContactReference | None = None
    for tile in range(n_tiles):
        rows, _ = station.tile_shape(tile)
        for row in contact_check_rows(rows):
            readings = read_row(tile, row)
            columns = np.flatnonzero(readings < CONTACT_OPEN_OHM)
            if columns.size and (best is None or columns.size > best.columns.size):
                best = ContactReference(tile, row, columns)
    return best


def contact_is_open(station: Station, n_tiles: int) -> bool:
    """True when every reading of the sampled rows of every tile is at open-circuit level."""
    return find_contact_reference(station, n_tiles) is None


def contact_held(station: Station, reference: ContactReference) -> bool:
    """Read the reference row again: True if the probes are still down."""
    readings = array_ops.read_row_resistance_ohm(
        station, reference.tile, reference.row, nplc=CHECK_NPLC
    )
    return reference.held(readings)


#: Gate-leakage readings per check; all must agree on the verdict.
LEAKAGE_READINGS = 2


def gate_leakage_A(station: Station) -> np.ndarray:
    """|gate current| (A) of :data:`LEAKAGE_READINGS` readings with the read bias applied.

    The gate SMU's output state and level come back in the same reply: readings of an SMU
    that restarted (output off, 0 V) would pass any short as healthy, so they raise
    InstrumentError (the check is made again after the station recovered)."""
    station.ensure_bias(CHECK_NPLC)
    gate = station.gate_smu
    reply = str(gate.ask(";".join([":READ?"] * LEAKAGE_READINGS + [":OUTP?", ":SOUR:VOLT?"])))
    parts = reply.strip().split(";")
    try:
        if len(parts) != LEAKAGE_READINGS + 2:
            raise ValueError(f"{len(parts)} parts")
        currents_A = np.abs(np.array(parts[:LEAKAGE_READINGS], dtype=np.float64))
        output_on, level_V = parts[-2].strip() == "1", float(parts[-1])
    except ValueError:
        raise InstrumentError(f"{gate.name}: garbled gate-leakage reply {reply[:80]!r}") from None
    gate_V = station.limits.gate_voltage_V
    if not output_on or not abs(level_V - gate_V) <= 1e-6 + 1e-6 * abs(gate_V):
        station.forget_bias()
        raise InstrumentError(
            f"{gate.name}: not sourcing the gate voltage (output {'on' if output_on else 'off'}, "
            f"{level_V:g} V; restarted?): leakage measured again"
        )
    if not np.isfinite(currents_A).all():
        raise InstrumentError(f"{gate.name}: non-finite gate-leakage reading")
    return currents_A


def check_gate_leakage(station: Station, max_leakage_A: float) -> float:
    """Raise DieCheckFailed on a gross gate short; return the leakage otherwise.

    Readings that disagree on the verdict (one above the limit, one below: a spike or a
    garbled reply) raise InstrumentError, so the check is made again.
    """
    currents_A = gate_leakage_A(station)
    over = currents_A > max_leakage_A
    if over.all():
        current_A = float(np.min(currents_A))
        gate_V = station.limits.gate_voltage_V
        limit_A = station.limits.compliance_current_A
        limit = " (SMU current limit reached)" if current_A >= 0.99 * limit_A else ""
        raise DieCheckFailed(
            f"gross gate short: word-line leakage {current_A:.3g} A at {gate_V:g} V{limit} "
            f"exceeds {max_leakage_A:.3g} A"
        )
    if over.any():
        raise InstrumentError(
            "gate leakage readings disagree ("
            + ", ".join(f"{c:.3g} A" for c in currents_A)
            + f" against a limit of {max_leakage_A:.3g} A); measuring again"
        )
    return float(np.max(currents_A))
