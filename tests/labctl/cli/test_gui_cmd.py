"""`labctl gui`: what the window is given for --sim, --station and a wafer file; early errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import gui.app
from labctl.cli.main import main
from labctl.store import WaferFile

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def offscreen(monkeypatch):
    """Qt draws without a display (the command refuses to start without one otherwise)."""
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def opened(monkeypatch):
    """Replace the event loop: record what the window would have been given."""
    calls: list[dict] = []

    def fake_run_app(config, wafer_path, station_args=(), argv=(), source=None):
        resources = {} if config is None else {r: i.resource for r, i in
                                                config.instruments.items()}
        calls.append({"config": config, "wafer": wafer_path, "station_args": list(station_args),
                      "resources": resources, "reachable": _reachable(resources)})
        return 0

    monkeypatch.setattr(gui.app, "run_app", fake_run_app)
    return calls


def _reachable(resources: dict[str, str]) -> bool:
    """Whether every loopback socket resource accepts a connection (False for other kinds)."""
    if not resources or not all(r.startswith("TCPIP::127.0.0.1::") for r in resources.values()):
        return False
    for resource in resources.values():
        _, host, port, _ = resource.split("::")
        with socket.socket() as s:
            if s.connect_ex((host, int(port))) != 0:
                return False
    return True


def test_sim_starts_the_simulated_station_for_the_window(opened):
    assert main(["gui", "--sim", "--seed", "3"]) == 0
    (call,) = opened
    assert call["station_args"] == ["--sim", "--seed", "3"]
    assert call["wafer"] is None
    assert set(call["resources"]) == {"prober", "read_smu", "gate_smu", "controller"}
    assert call["reachable"]  # the simulator served while the window was open
    assert not _reachable(call["resources"])  # and is stopped afterwards


def test_station_file_is_loaded_not_connected(opened):
    station = REPO / "data" / "stations" / "example-lab.toml"
    assert main(["gui", "--station", str(station)]) == 0
    (call,) = opened
    assert call["station_args"] == ["--station", str(station)]
    assert call["config"] is not None


def test_wafer_file_alone_opens_review(opened, tmp_path):
    path = tmp_path / "w.h5"
    WaferFile.create(path, "W1", {}, {}, ["die_02_00"]).close()
    assert main(["gui", str(path)]) == 0
    (call,) = opened
    assert call["config"] is None and call["wafer"] == path and call["station_args"] == []


@pytest.mark.parametrize(("argv", "message"), [
    (["gui", "missing.h5"], "no such file"),
    (["gui", "--seed", "2"], "--seed only applies with --sim"),
    (["gui", "--station", "nowhere.toml"], "cannot read station file"),
])
def test_bad_input_is_one_line_and_no_window(opened, capsys, tmp_path, monkeypatch, argv,
                                             message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert opened == []


def test_a_non_wafer_hdf5_file_is_refused(opened, capsys, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("text")
    assert main(["gui", str(bad)]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err
