"""`labctl station check`: a report on success; one clear line and exit status 2 on bad input."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.cli.main import main
from labctl.station.config import SIM_STATION_FILE


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.fixture
def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _station_file(tmp_path: Path, port: int, timeout_s: float = 0.3) -> Path:
    text = SIM_STATION_FILE.read_text()
    for i in range(4):
        text = text.replace(f"127.0.0.1::{15000 + i}::", f"127.0.0.1::{port}::")
    text = text.replace("timeout_s = 5.0", f"timeout_s = {timeout_s}")
    text = text.replace("timeout_s = 10.0", f"timeout_s = {timeout_s}")
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("labctl: error: ")
    return lines[0]


def test_check_on_the_simulated_station(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "check", "--sim", "--seed", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"station sim: \d+ instruments", out[0])
    rows = {line.split()[0]: line for line in out[2:]}
    assert {"prober", "read_smu", "gate_smu", "controller"} <= set(rows)
    assert "TCPIP::127.0.0.1::" in rows["prober"] and "Velox" in rows["prober"]
    assert "MODEL 2450" in rows["read_smu"] and "output off" in rows["read_smu"]
    assert "LABCTL,MTJ-ARRAY-CTRL" in rows["controller"] and "no errors" in rows["controller"]
    assert "chuck separated" in rows["prober"]
    assert not any("error:" in line for line in out)


def test_malformed_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[station\nname = 'x'\n")
    assert main(["station", "check", "--station", str(path)]) == 2
    line = _one_error_line(capsys)
    assert str(path) in line and "not valid TOML" in line


def test_unknown_driver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(SIM_STATION_FILE.read_text().replace('"velox"', '"velox9000"'))
    assert main(["station", "check", "--station", str(path)]) == 2
    line = _one_error_line(capsys)
    assert "[instruments.prober] driver: unknown driver 'velox9000'" in line


def _failures(capsys: pytest.CaptureFixture[str]) -> tuple[str, list[str]]:
    """The one error line, and the report's lines (every instrument, a fix under each
    failure)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labctl: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0], captured.out.splitlines()


def test_unreachable_resource(
    tmp_path: Path, dead_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _station_file(tmp_path, dead_port)
    assert main(["station", "check", "--station", str(path)]) == 2
    line, report = _failures(capsys)
    n = int(report[0].split(": ")[1].split()[0])
    assert f"{n} of {n} instruments failed the check" in line
    errors = [r for r in report if r.strip().startswith("error:")]
    fixes = [r for r in report if r.strip().startswith("fix:")]
    assert len(errors) == len(fixes) == n  # every instrument reported, none stops the check
    assert any(f"prober (TCPIP::127.0.0.1::{dead_port}::SOCKET)" in e for e in errors)
    assert any(f"controller (TCPIP::127.0.0.1::{dead_port}::SOCKET)" in e for e in errors)
    assert "Connection refused" in errors[0]
    assert "check the instrument is on, its address and port" in fixes[0]


def test_timeout(tmp_path: Path, silent_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    path = _station_file(tmp_path, silent_port, timeout_s=0.1)
    assert main(["station", "check", "--station", str(path)]) == 2
    line, report = _failures(capsys)
    assert "instruments failed the check: prober, read_smu, gate_smu, controller" in line
    errors = [r for r in report if r.strip().startswith("error:")]
    assert f"prober (TCPIP::127.0.0.1::{silent_port}::SOCKET)" in errors[0]
    assert "timed out after 0.1 s" in errors[0]
    assert "did not answer in time" in report[report.index(errors[0]) + 1]


def test_one_failing_instrument_does_not_hide_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong resource string for one role: the other roles are still identified."""
    from labctl.sim.embedded import start_sim_station
    from labctl.station.config import load_station_config

    config = load_station_config(SIM_STATION_FILE)
    with start_sim_station(seed=0, read_channels=config.n_read_channels) as sim:
        served = {**{str(k): v for k, v in sim.resources.items()},
                  **sim.read_channel_resources}
        text = SIM_STATION_FILE.read_text()
        for instrument in [*config.instruments.values(), *config.read_channels]:
            resource = "COM3" if instrument.key == "gate_smu" else served[instrument.key]
            text = text.replace(f'"{instrument.resource}"', f'"{resource}"')
        path = tmp_path / "bench.toml"
        path.write_text(text)
        assert main(["station", "check", "--station", str(path)]) == 2
    line, report = _failures(capsys)
    n = 4 + len(config.read_channels)
    assert f"1 of {n} instruments failed the check: gate_smu" in line
    rows = {r.split()[0]: r for r in report[2:] if not r.startswith(" ")}
    assert "Velox" in rows["prober"] and "MTJ-ARRAY-CTRL" in rows["controller"]
    assert rows["gate_smu"].endswith("FAILED")
    assert any("'COM3' is a serial port name, not a VISA resource string: write ASRL3::INSTR"
               in r for r in report)
    assert any("correct the resource string" in r for r in report)


def test_seed_needs_sim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "check", "--station", str(SIM_STATION_FILE), "--seed", "1"]) == 2
    assert "--seed only applies with --sim" in _one_error_line(capsys)


def test_a_station_source_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "check"]) == 2
    assert "one of the arguments --sim --station is required" in _one_error_line(capsys)
