"""Characterisation settings: validated ranges, JSON-ready export."""

from __future__ import annotations

import json

import pytest

from labctl.core.errors import ConfigError
from procedures.settings import CharacterisationSettings


def test_defaults_are_valid_and_serialisable() -> None:
    settings = CharacterisationSettings()
    exported = json.loads(json.dumps(settings.as_dict()))
    assert exported["batching"] == "tile"
    assert CharacterisationSettings(**exported) == settings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cycles", 0, "cycles"),
        ("cycles", 1.5, "whole number"),
        ("read_voltage_V", 5.0, "read_voltage_V = 5 V"),
        ("write_voltage_V", -1.0, "write_voltage_V"),
        ("write_width_s", 1.0, "write_width_s"),
        ("nplc", 0.0, "nplc"),
        ("nplc", float("nan"), "finite"),
        ("batching", "cell", "batching"),
    ],
)
def test_out_of_range_settings_raise_config_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CharacterisationSettings(**{field: value})  # type: ignore[arg-type]
