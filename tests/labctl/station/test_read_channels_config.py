"""Station files: the mains frequency and extra read channels (read_smu_2 ...)."""

from __future__ import annotations

from typing import Any

import pytest

from labctl.core.errors import ConfigError
from labctl.core.roles import parse_read_channel_key, read_channel_key
from labctl.station.config import SIM_STATION_FILE, parse_station_config, tomllib


def _document() -> dict[str, Any]:
    with SIM_STATION_FILE.open("rb") as handle:
        return tomllib.load(handle)


def test_sim_station_has_four_read_channels_at_50_Hz() -> None:
    config = parse_station_config(_document())
    assert config.line_frequency_Hz == 50.0
    assert [c.key for c in config.read_channels] == ["read_smu_2", "read_smu_3", "read_smu_4"]
    assert [c.channel for c in config.read_channels] == [1, 2, 3]
    assert config.n_read_channels == 4


def test_four_role_station_defaults() -> None:
    document = _document()
    del document["station"]["line_frequency_Hz"]
    for key in ("read_smu_2", "read_smu_3", "read_smu_4"):
        del document["instruments"][key]
    config = parse_station_config(document)
    assert config.line_frequency_Hz == 50.0 and config.n_read_channels == 1


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["station"].update(line_frequency_Hz=55), "must be 50 or 60"),
    (lambda d: d["station"].update(line_frequency_Hz="60"), "must be a number"),
    (lambda d: d["instruments"].pop("read_smu_3"), r"\[instruments.read_smu_3\] is missing"),
    (lambda d: d["instruments"]["read_smu_2"].update(driver="velox"), "needs driver"),
    (lambda d: d["instruments"].update(read_smu_17={}), "unknown key"),
])
def test_bad_values_are_refused(change: Any, message: str) -> None:
    document = _document()
    change(document)
    with pytest.raises(ConfigError, match=message):
        parse_station_config(document)


def test_read_channel_keys_round_trip() -> None:
    for channel in range(16):
        assert parse_read_channel_key(read_channel_key(channel)) == channel
    for key in ("read_smu_1", "read_smu_02", "read_smu_17", "gate_smu", "read_smu_x"):
        assert parse_read_channel_key(key) is None
