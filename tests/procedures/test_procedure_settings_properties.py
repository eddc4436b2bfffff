"""Procedure settings, property-based: any value of any type for any setting gives valid
settings or one ConfigError line, never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.core.errors import ConfigError
from procedures.settings import BATCHING_CHOICES, CharacterisationSettings

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(BATCHING_CHOICES), st.lists(st.integers(), max_size=2),
)
NAMES = ("cycles", "read_voltage_V", "write_voltage_V", "write_width_s", "nplc", "batching")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), values, max_size=3))
def test_any_values_are_valid_settings_or_one_config_error(overrides: dict[str, Any]) -> None:
    try:
        result = CharacterisationSettings(**overrides)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= result.cycles <= 1000 and not isinstance(result.cycles, bool)
    assert 0 < result.read_voltage_V <= 1.0 and 0 <= result.write_voltage_V <= 2.0
    assert result.batching in BATCHING_CHOICES
