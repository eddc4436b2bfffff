"""Absolute ceilings and the VISA library: a station file can only tighten the ceilings, and
only the known VISA backends or vendor libraries are ever loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pymeasure.adapters import VISAAdapter

from labctl.core.errors import ConfigError
from labctl.core.limits import CEILINGS
from labctl.core.roles import Role
from labctl.station.config import (
    SIM_STATION_FILE,
    load_station_config,
    visa_library_problem,
)
from labctl.station.transport import RoleAdapter

ROOT = Path(__file__).resolve().parents[3]
#: The limits lines of data/stations/sim.toml each ceiling test rewrites.
SIM_LINES = {
    "max_read_voltage_V": "max_read_voltage_V = 0.2 ",
    "max_write_voltage_V": "max_write_voltage_V = 1.2 ",
    "max_gate_voltage_V": "max_gate_voltage_V = 1.8 ",
    "compliance_current_A": "compliance_current_A = 10e-3",
    "write_width_s": "write_width_s = 50e-9",
}


def _station_file(tmp_path: Path, key: str, value: float) -> Path:
    text = SIM_STATION_FILE.read_text()
    assert SIM_LINES[key] in text
    path = tmp_path / "station.toml"
    path.write_text(text.replace(SIM_LINES[key], f"{key} = {value!r} "))
    return path


def test_every_ceiling_has_a_station_key_and_a_reason() -> None:
    assert set(CEILINGS) == set(SIM_LINES)
    for ceiling in CEILINGS.values():
        assert ceiling.value > 0 and ceiling.reason and ceiling.unit in ("V", "A", "s")


@pytest.mark.parametrize("key", sorted(CEILINGS))
def test_a_value_above_a_ceiling_names_key_value_and_ceiling(tmp_path: Path, key: str) -> None:
    ceiling = CEILINGS[key]
    value = ceiling.value * 1.01
    with pytest.raises(ConfigError) as info:
        load_station_config(_station_file(tmp_path, key, value))
    message = str(info.value)
    assert f"[limits] {key}: {value:g} {ceiling.unit} is above the ceiling of " \
           f"{ceiling.value:g} {ceiling.unit} ({ceiling.reason})" in message
    assert "\n" not in message


@pytest.mark.parametrize("key", sorted(CEILINGS))
def test_a_value_at_the_ceiling_is_accepted(tmp_path: Path, key: str) -> None:
    config = load_station_config(_station_file(tmp_path, key, CEILINGS[key].value))
    assert getattr(config.limits, key) == CEILINGS[key].value


@pytest.mark.parametrize("path", sorted((ROOT / "data" / "stations").glob("*.toml")))
def test_shipped_stations_are_within_the_ceilings(path: Path) -> None:
    limits = load_station_config(path).limits
    for key, ceiling in CEILINGS.items():
        assert getattr(limits, key) <= ceiling.value


def test_station_check_refuses_the_reported_station_file_with_exit_2(tmp_path: Path) -> None:
    """The station file of issue 10 (gate 150 V, read limit 150 V, 1.05 A compliance), checked
    by the command line in a separate process: exit status 2 and one line."""
    text = SIM_STATION_FILE.read_text()
    for old, new in (("gate_voltage_V = 1.2 ", "gate_voltage_V = 150 "),
                     ("max_gate_voltage_V = 1.8 ", "max_gate_voltage_V = 150 "),
                     ("max_read_voltage_V = 0.2 ", "max_read_voltage_V = 150 "),
                     ("compliance_current_A = 10e-3", "compliance_current_A = 1.05")):
        text = text.replace(old, new)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "labctl.cli.main", "station", "check", "--station", str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1
    assert "max_read_voltage_V: 150 V is above the ceiling of 0.5 V" in lines[0]


@pytest.mark.parametrize("library", [
    "", "@py", "@ivi", "@sim", "visa64.dll", "visa32.dll", "libvisa.so.7", "libiovisa.so",
    "C:\\Windows\\System32\\visa64.dll", "C:/Windows/SysWOW64/visa32.dll",
    "C:\\Program Files\\IVI Foundation\\VISA\\Win64\\Bin\\RsVisa64.dll",
    "/usr/lib/x86_64-linux-gnu/libvisa.so.7", "/usr/local/vxipnp/linux/lib64/libvisa.so",
    "/opt/keysight/iolibs/libiovisa.so", "/usr/lib64/librsvisa.so@ivi",
    "/Library/Frameworks/VISA.framework/VISA",
])
def test_known_visa_libraries_are_accepted(library: str) -> None:
    assert visa_library_problem(library) is None


@pytest.mark.parametrize("library", [
    "/tmp/evil.so", "evil.so", "./libvisa.so.7", "/tmp/libvisa.so.7",
    "/usr/lib/../../tmp/libvisa.so",
    "/home/user/visa64.dll", "C:\\Users\\me\\visa64.dll", "libvisa.so.7.evil", "visa", "@PY",
    "@foo", "@py_evil", "x.yaml@sim", "/usr/lib/libvisa.so@py", "/usr/lib/libc.so.6",
    "/tmp/VISA.framework/VISA", "a@b@ivi",
])
def test_other_visa_libraries_are_refused(library: str) -> None:
    assert visa_library_problem(library) is not None


def test_the_transport_refuses_an_unknown_library_before_loading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the VISA library was loaded")

    monkeypatch.setattr(VISAAdapter, "__init__", never)
    with pytest.raises(ConfigError, match=r"visa_library: '/tmp/evil\.so' is not a vendor VISA"):
        RoleAdapter(Role.READ_SMU, "TCPIP::127.0.0.1::1::SOCKET", "/tmp/evil.so")
