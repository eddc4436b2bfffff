"""Die naming and the default 36-die wafer map (map positions as the prober reports them)."""

from __future__ import annotations

import re

#: Columns present on each map row of the default 150 mm wafer layout (8 columns x 6 rows).
_ROW_SPANS: tuple[tuple[int, int], ...] = ((2, 5), (1, 6), (0, 7), (0, 7), (1, 6), (2, 5))

#: (col, row) of every die in the prober's stepping order: row by row, columns ascending.
WAFER_MAP: tuple[tuple[int, int], ...] = tuple(
    (col, row) for row, (first, last) in enumerate(_ROW_SPANS) for col in range(first, last + 1)
)

_DIE_NAME = re.compile(r"die_([0-9]{2})_([0-9]{2})")


def die_name(col: int, row: int) -> str:
    """`die_<col>_<row>` with two-digit indices, e.g. ``die_03_00``."""
    if not (0 <= col < 100 and 0 <= row < 100):
        raise ValueError(f"die position out of range: col={col}, row={row}")
    return f"die_{col:02d}_{row:02d}"


def parse_die_name(name: str) -> tuple[int, int]:
    """Inverse of :func:`die_name`; raises ``ValueError`` for anything else."""
    match = _DIE_NAME.fullmatch(name) if name.isascii() else None
    if match is None:
        raise ValueError(f"not a die name: {name!r} (expected die_<col>_<row>, e.g. die_03_00)")
    return int(match.group(1)), int(match.group(2))


ALL_DIE_NAMES: tuple[str, ...] = tuple(die_name(c, r) for c, r in WAFER_MAP)
