"""Die selections, property-based: any text is a selection in wafer-map order without
duplicates, or one LabctlError line; every valid selection round-trips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.core.errors import LabctlError
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.store.wafer_file import resolve_die_selection

tokens = st.sampled_from([*ALL_DIE_NAMES[:6], "die_00_00", "die_3_0", "all", ",", " ", "", "x",
                          "die_07_03", "DIE_03_00", "die_03_00 ", "\t"])


def _check(selection: str) -> None:
    try:
        names = resolve_die_selection(selection)
    except LabctlError as exc:
        assert "\n" not in str(exc)
        return
    assert names and set(names) <= set(ALL_DIE_NAMES)
    assert names == sorted(set(names), key=ALL_DIE_NAMES.index)
    assert resolve_die_selection(",".join(names)) == names


@settings(max_examples=300, deadline=None)
@given(st.lists(tokens, max_size=8).map("".join))
def test_token_soups(selection: str) -> None:
    _check(selection)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text(selection: str) -> None:
    _check(selection)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(ALL_DIE_NAMES), min_size=1, max_size=10))
def test_every_list_of_known_dies_is_accepted(names: list[str]) -> None:
    assert resolve_die_selection(",".join(reversed(names))) == sorted(
        set(names), key=ALL_DIE_NAMES.index
    )
