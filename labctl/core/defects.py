"""Defect classes of a 1T-1MTJ cell, shared by the simulator, the classifier, HDF5 and training."""

from __future__ import annotations

from enum import IntEnum


class DefectCode(IntEnum):
    """uint8 codes stored in `defects` datasets (see docs/hdf5-format.md)."""

    OK = 0
    SHORT = 1
    OPEN = 2
    STUCK_P = 3
    STUCK_AP = 4


#: name -> code, as stored in the HDF5 `codes` attribute.
DEFECT_CODES: dict[str, int] = {code.name.lower(): int(code) for code in DefectCode}
