"""Station TOML files: the shipped ones load; every kind of mistake is one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.core.errors import ConfigError
from labctl.station.config import (
    ROLE_DRIVERS,
    SIM_STATION_FILE,
    load_station_config,
    parse_station_config,
    sim_station_config,
)

EXAMPLE_LAB = SIM_STATION_FILE.parent / "example-lab.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def _edited(old: str, new: str) -> str:
    text = SIM_STATION_FILE.read_text()
    assert old in text
    return text.replace(old, new, 1)


def test_sim_station_file_loads() -> None:
    config = load_station_config(SIM_STATION_FILE)
    assert config.name == "sim"
    assert config.visa_library == "@py"
    assert set(config.instruments) == set(ROLE_DRIVERS)
    assert config.instruments["read_smu"].driver == "keithley2450"
    assert config.limits.read_voltage_V <= config.limits.max_read_voltage_V
    assert config.source == SIM_STATION_FILE


def test_example_lab_file_loads_with_real_bench_resources() -> None:
    config = load_station_config(EXAMPLE_LAB)
    assert config.visa_library == "@ivi"
    assert config.instruments["prober"].resource == "GPIB0::28::INSTR"
    assert config.instruments["prober"].timeout_s == 40.0
    assert config.instruments["read_smu"].resource.startswith("TCPIP::")


def test_sim_station_config_takes_the_simulators_resources() -> None:
    resources = {role: f"TCPIP::127.0.0.1::{6000 + i}::SOCKET" for i, role in
                 enumerate(ROLE_DRIVERS)}
    config = sim_station_config(resources)
    assert {role: inst.resource for role, inst in config.instruments.items()} == resources
    assert config.limits == load_station_config(SIM_STATION_FILE).limits


def test_sim_station_config_needs_every_role() -> None:
    with pytest.raises(ConfigError, match="controller"):
        sim_station_config({"prober": "x", "read_smu": "y", "gate_smu": "z"})


def test_default_timeout_and_visa_library(tmp_path: Path) -> None:
    text = _edited('visa_library = "@py"', "").replace("timeout_s = 5.0\n", "")
    config = load_station_config(_write(tmp_path, text))
    assert config.visa_library == "@py"
    assert config.instruments["prober"].timeout_s == 5.0


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('name = "sim"', "", r"\[station\] name: missing"),
        ('name = "sim"', "name = 3", r"\[station\] name: must be a string"),
        ("read_voltage_V = 0.1 ", 'read_voltage_V = "0.1" ',
         r"\[limits\] read_voltage_V: must be a number"),
        ("read_voltage_V = 0.1 ", "read_voltage_V = -0.1 ",
         r"\[limits\] read_voltage_V: must be a positive number"),
        ("read_voltage_V = 0.1 ", "read_voltage_V = true ",
         r"\[limits\] read_voltage_V: must be a number"),
        ("read_voltage_V = 0.1 ", "read_voltage_V = 0.5 ",
         r"\[limits\] read_voltage_V: 0.5 V is above max_read_voltage_V"),
        ("write_voltage_V = 0.8 ", "write_voltage_V = 1.5 ",
         r"\[limits\] write_voltage_V: 1.5 V is above max_write_voltage_V"),
        ("gate_voltage_V = 1.2 ", "gate_voltage_V = 2.5 ",
         r"\[limits\] gate_voltage_V: 2.5 V is above max_gate_voltage_V"),
        ("compliance_current_A = 10e-3", "compliance_current_A = 2.0",
         r"compliance_current_A: 2 A is above the ceiling of 0.05 A \(.*\); a station file "
         r"may only tighten it$"),
        ("compliance_current_A = 10e-3", "compliance_current_A = 1.05",
         r"compliance_current_A: 1.05 A is above the ceiling of 0.05 A"),
        ("max_read_voltage_V = 0.2 ", "max_read_voltage_V = 150 ",
         r"\[limits\] max_read_voltage_V: 150 V is above the ceiling of 0.5 V \(half the ~1 V "
         r"DC breakdown of the MTJ's MgO barrier\)"),
        ("max_write_voltage_V = 1.2 ", "max_write_voltage_V = 1.6 ",
         r"\[limits\] max_write_voltage_V: 1.6 V is above the ceiling of 1.5 V"),
        ("max_gate_voltage_V = 1.8 ", "max_gate_voltage_V = 150 ",
         r"\[limits\] max_gate_voltage_V: 150 V is above the ceiling of 1.8 V"),
        ("write_width_s = 50e-9", "write_width_s = 1.0",
         r"write_width_s: 1 s is above the ceiling of 1e-06 s"),
        ("write_width_s = 50e-9", "write_width_s = 1e-10",
         r"write_width_s: 1e-10 s is below the controller's shortest pulse of 1e-09 s"),
        ('visa_library = "@py"', 'visa_library = "/tmp/evil.so"',
         r"\[station\] visa_library: '/tmp/evil.so' is not a vendor VISA library"),
        ('visa_library = "@py"', 'visa_library = "/tmp/x/libvisa.so.7"',
         r"\[station\] visa_library: '/tmp/x/libvisa.so.7' is not in a VISA install folder"),
        ('visa_library = "@py"', 'visa_library = "@evil"',
         r"\[station\] visa_library: unknown VISA backend '@evil'"),
        ("write_width_s = 50e-9", "", r"\[limits\] write_width_s: missing"),
        ("write_width_s = 50e-9", "write_width_s = 50e-9\nread_voltage_mV = 100",
         r"\[limits\] read_voltage_mV: unknown key"),
        ('driver = "velox"', 'driver = "velox2"',
         r"\[instruments.prober\] driver: unknown driver 'velox2'"),
        ('driver = "velox"', 'driver = "keithley2450"',
         r"\[instruments.prober\] driver: role prober needs driver 'velox'"),
        ('resource = "TCPIP::127.0.0.1::15000::SOCKET"', 'resource = ""',
         r"\[instruments.prober\] resource: must not be empty"),
        ("timeout_s = 5.0", "timeout_s = 0", r"\[instruments.prober\] timeout_s: must be a pos"),
        ("timeout_s = 5.0", "timeout_s = 5.0\nbaud = 9600",
         r"\[instruments.prober\] baud: unknown key"),
        ("[instruments.gate_smu]", "[instruments.scope]", r"\[instruments\] scope: unknown key"),
        ("[limits]", "[limit]", r"limit: unknown key"),
    ],
)
def test_bad_station_files_name_file_key_and_problem(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = _write(tmp_path, _edited(old, new))
    with pytest.raises(ConfigError, match=expected) as info:
        load_station_config(path)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_role_is_named(tmp_path: Path) -> None:
    text = SIM_STATION_FILE.read_text()
    start = text.index("[instruments.controller]")
    path = _write(tmp_path, text[:start])
    with pytest.raises(ConfigError, match=r"\[instruments\] controller: missing"):
        load_station_config(path)


def test_malformed_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "[station]\nname = \n")
    with pytest.raises(ConfigError, match=r"station.toml: not valid TOML: .*line 2"):
        load_station_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read station file"):
        load_station_config(tmp_path / "nope.toml")


def test_section_that_is_not_a_table() -> None:
    document = {"station": "sim", "limits": {}, "instruments": {}}
    with pytest.raises(ConfigError, match=r"<station>: \[station\]: must be a table, got str"):
        parse_station_config(document)
