"""`labctl station check`: a report on success; one clear line and exit status 2 on bad input."""

from __future__ import annotations

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
    assert out[0] == "station sim: 4 instruments"
    rows = {line.split()[0]: line for line in out[2:]}
    assert set(rows) == {"prober", "read_smu", "gate_smu", "controller"}
    assert "TCPIP::127.0.0.1::" in rows["prober"] and "Velox" in rows["prober"]
    assert "MODEL 2450" in rows["read_smu"] and "output off" in rows["read_smu"]
    assert "LABCTL,MTJ-ARRAY-CTRL" in rows["controller"] and "no errors" in rows["controller"]
    assert "chuck separated" in rows["prober"]


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


def test_unreachable_resource(
    tmp_path: Path, dead_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _station_file(tmp_path, dead_port)
    assert main(["station", "check", "--station", str(path)]) == 2
    line = _one_error_line(capsys)
    assert f"prober (TCPIP::127.0.0.1::{dead_port}::SOCKET)" in line
    assert "Connection refused" in line


def test_timeout(tmp_path: Path, silent_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    path = _station_file(tmp_path, silent_port)
    assert main(["station", "check", "--station", str(path)]) == 2
    line = _one_error_line(capsys)
    assert f"prober (TCPIP::127.0.0.1::{silent_port}::SOCKET)" in line
    assert "timed out after 0.3 s" in line


def test_seed_needs_sim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "check", "--station", str(SIM_STATION_FILE), "--seed", "1"]) == 2
    assert "--seed only applies with --sim" in _one_error_line(capsys)


def test_a_station_source_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["station", "check"])
    assert info.value.code == 2
    assert "one of the arguments --sim --station is required" in capsys.readouterr().err
