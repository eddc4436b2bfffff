"""Checks made on a freshly contacted die before it is characterised.

* Contact: a few rows of every tile are read; if every reading sits at open-circuit level the
  probes did not land (or the die is dead). The sweep separates, re-contacts once and checks
  again before it gives up on the die.
* Gate leakage: the word-line SMU's current at the gate voltage. A healthy die leaks nA; a gross
  gate short draws mA (or trips the current limit). Characterising such a die would only
  heat the short, so it is failed with the measured figure.
"""

from __future__ import annotations

import numpy as np

from labctl.errors import LabctlError
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


def contact_is_open(station: Station, n_tiles: int) -> bool:
    """True when every reading of the sampled rows of every tile is at open-circuit level."""
    lowest_ohm = np.inf
    for tile in range(n_tiles):
        rows, _ = station.tile_shape(tile)
        for row in contact_check_rows(rows):
            readings = array_ops.read_row_resistance_ohm(station, tile, row, nplc=CHECK_NPLC)
            lowest_ohm = min(lowest_ohm, float(np.min(readings)))
    return not lowest_ohm < CONTACT_OPEN_OHM


def gate_leakage_A(station: Station) -> tuple[float, bool]:
    """(|gate current| in A, current limit tripped) with the read bias applied."""
    station.ensure_bias(CHECK_NPLC)
    current_A = abs(float(station.gate_smu.current))
    return current_A, bool(station.gate_smu.compliance_tripped)


def check_gate_leakage(station: Station, max_leakage_A: float) -> float:
    """Raise DieCheckFailed on a gross gate short; return the leakage otherwise."""
    current_A, tripped = gate_leakage_A(station)
    if tripped or current_A > max_leakage_A:
        gate_V = station.limits.gate_voltage_V
        limit = " (SMU current limit reached)" if tripped else ""
        raise DieCheckFailed(
            f"gross gate short: word-line leakage {current_A:.3g} A at {gate_V:g} V{limit} "
            f"exceeds {max_leakage_A:.3g} A"
        )
    return current_A
