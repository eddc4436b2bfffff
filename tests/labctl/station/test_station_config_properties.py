"""Station files, property-based: any document or any text either loads as a valid station or
is refused with one ConfigError line; a loaded station always satisfies its own limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl.core.errors import ConfigError
from labctl.core.limits import CEILINGS
from labctl.station.config import (
    SIM_STATION_FILE,
    StationConfig,
    load_station_config,
    parse_station_config,
)

BASE: dict[str, Any] = tomllib.loads(SIM_STATION_FILE.read_text())

toml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _check(config: StationConfig) -> None:
    limits = config.limits
    assert 0 < limits.read_voltage_V <= limits.max_read_voltage_V
    assert 0 < limits.write_voltage_V <= limits.max_write_voltage_V
    assert 0 < limits.gate_voltage_V <= limits.max_gate_voltage_V
    for key, ceiling in CEILINGS.items():
        assert 0 < getattr(limits, key) <= ceiling.value
    assert set(config.instruments) == {"prober", "read_smu", "gate_smu", "controller"}


@st.composite
def altered_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The shipped station with a few keys replaced, removed or added at any depth."""
    document: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    document["instruments"] = {k: dict(v) for k, v in BASE["instruments"].items()}
    tables = [document, document["station"], document["limits"], document["instruments"],
              *document["instruments"].values()]
    for _ in range(draw(st.integers(1, 4))):
        table = draw(st.sampled_from(tables))
        keys = sorted(table)
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "add" or not keys:
            table[draw(st.text(max_size=10))] = draw(toml_values)
        elif action == "remove":
            del table[draw(st.sampled_from(keys))]
        else:
            table[draw(st.sampled_from(keys))] = draw(toml_values)
    return document


@settings(max_examples=400, deadline=None)
@given(altered_documents())
def test_any_altered_document_is_valid_or_refused_in_one_line(document: dict[str, Any]) -> None:
    try:
        config = parse_station_config(document)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("<station>: ")
        return
    _check(config)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_file_content_is_valid_or_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "station.toml"
    path.write_bytes(content)
    try:
        config = load_station_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip()
        return
    _check(config)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(CEILINGS)), st.floats(1.0, 1e6, exclude_min=True),
       st.booleans())
def test_a_limit_beyond_its_ceiling_is_refused_naming_key_value_and_ceiling(
    key: str, factor: float, as_int: bool
) -> None:
    ceiling = CEILINGS[key]
    value: float = ceiling.value * factor
    if as_int and value >= 2:
        value = int(value) + 1
    document = {**BASE, "limits": {**BASE["limits"], key: value}}
    if key == "max_gate_voltage_V":  # a raised maximum with its operating point raised too
        document["limits"]["gate_voltage_V"] = value
    try:
        parse_station_config(document)
    except ConfigError as exc:
        assert str(exc) == (
            f"<station>: [limits] {key}: {float(value):g} {ceiling.unit} is above the ceiling of "
            f"{ceiling.value:g} {ceiling.unit} ({ceiling.reason}); a station file may only "
            "tighten it"
        )
    else:
        raise AssertionError(f"{key} = {value} was accepted")


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    key: st.floats(min_value=1e-6, max_value=1.0) for key in CEILINGS
}))
def test_limits_within_the_ceilings_load(fractions: dict[str, float]) -> None:
    limits = dict(BASE["limits"])
    for key, fraction in fractions.items():
        limits[key] = CEILINGS[key].value * fraction
    for level, maximum in (("read_voltage_V", "max_read_voltage_V"),
                           ("write_voltage_V", "max_write_voltage_V"),
                           ("gate_voltage_V", "max_gate_voltage_V")):
        limits[level] = limits[maximum]
    limits["write_width_s"] = max(limits["write_width_s"], 1e-9)
    _check(parse_station_config({**BASE, "limits": limits}))
