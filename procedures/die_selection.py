"""Which dies a sweep visits: `all` or a comma-separated list of die names, in wafer-map order.

Dies are always visited in the prober's stepping order (row by row, columns ascending) whatever
order the user typed, which keeps prober travel short and makes runs comparable.
"""

from __future__ import annotations

from labctl.errors import ConfigError
from labctl.wafer_map import ALL_DIE_NAMES


def parse_die_selection(text: str) -> tuple[str, ...]:
    """`"all"` -> every die; `"die_03_00,die_02_01"` -> those dies, in map order, once each.

    Raises ConfigError naming every unknown or malformed die.
    """
    spec = text.strip()
    if spec.lower() == "all":
        return ALL_DIE_NAMES
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise ConfigError("no dies selected: give 'all' or die names such as die_03_00,die_02_01")
    unknown = sorted({name for name in names if name not in ALL_DIE_NAMES})
    if unknown:
        raise ConfigError(
            f"unknown die name(s): {', '.join(unknown)} (dies are die_<col>_<row> on the 36-die "
            f"wafer map, e.g. {ALL_DIE_NAMES[0]} ... {ALL_DIE_NAMES[-1]})"
        )
    wanted = set(names)
    return tuple(name for name in ALL_DIE_NAMES if name in wanted)
