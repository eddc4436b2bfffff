"""Die selection: 'all' or names, always in wafer-map order, unknown names rejected."""

from __future__ import annotations

import pytest

from labctl.errors import ConfigError
from labctl.wafer_map import ALL_DIE_NAMES
from procedures.die_selection import parse_die_selection


def test_all_selects_every_die_in_map_order() -> None:
    assert parse_die_selection("all") == ALL_DIE_NAMES
    assert parse_die_selection(" ALL ") == ALL_DIE_NAMES


def test_names_come_back_in_map_order_without_duplicates() -> None:
    assert parse_die_selection("die_02_01, die_03_00,die_02_01") == ("die_03_00", "die_02_01")


@pytest.mark.parametrize("text", ["die_00_00", "die_3_0", "die_03_00,bogus", ""])
def test_unknown_or_malformed_names_raise(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_die_selection(text)


def test_error_names_every_unknown_die() -> None:
    with pytest.raises(ConfigError, match="die_00_00, die_09_09"):
        parse_die_selection("die_09_09,die_03_00,die_00_00")
