"""`--faults SPEC` on `--sim` runs (shared by every command through station_source, and by
`labctl sweep`): it reaches the simulated station, the sweep recovers from what it injects, and
a bad SPEC or one without --sim is refused in one line with nothing created."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from labctl.cli.main import main
from labctl.cli.station_source import (
    add_station_options,
    optional_station_source,
    station_cli_args,
)
from labctl.station.config import SIM_STATION_FILE
from labctl.store import DieStatus, open_wafer


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labctl: error: "), err
    return err[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["station", "check", "--station", str(SIM_STATION_FILE), "--faults", "garble=0.1"],
         "--faults only applies with --sim"),
        (["station", "check", "--sim", "--faults", "garble=0.1;bogus=1"],
         "unknown setting 'bogus'"),
        (["sweep", "--station", str(SIM_STATION_FILE), "--faults", "garble=0.1"],
         "--faults only applies with --sim"),
        (["sweep", "--sim", "--faults", "read_smu:error=0.5"], "error does not apply to read_smu"),
    ],
)
def test_bad_faults_options_are_refused_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if argv[0] == "sweep":
        argv = [*argv, "--out", str(tmp_path / "w.h5")]
    assert main(argv) == 2
    assert message in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_station_check_reaches_the_faulty_station(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "check", "--sim", "--faults", "prober:delay=1,delay_s=0.01"]) == 0
    assert "FormFactor GmbH,Velox" in capsys.readouterr().out


def test_a_sweep_recovers_from_the_injected_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "w.h5"
    faults = "contact_loss=0.1;read_smu:garble=0.05,compliance=0.02;controller:drop=0.01;seed=1"
    assert main(["sweep", "--sim", "--seed", "3", "--faults", faults, "--out", str(out),
                 "--dies", "die_03_00,die_04_00", "--cycles", "1", "--retry-backoff", "0"]) == 0
    log = (tmp_path / "w.h5.log").read_text()
    assert "simulated station injects faults: seed=1,contact_loss=0.1;" in log
    assert "re-contacting" in log or "retrying" in log  # the faults did bite
    with open_wafer(out) as reader:
        assert all(rec.status is DieStatus.COMPLETE for rec in reader.dies.values())


def test_the_options_become_a_station_source() -> None:
    """The adapter only builds a StationSource; the SPEC is parsed by the service layer."""
    parser = argparse.ArgumentParser()
    add_station_options(parser, required=False)
    sim = optional_station_source(parser.parse_args(["--sim", "--seed", "3", "--faults",
                                                     "prober:error=0.1"]))
    assert sim is not None and sim.simulated and sim.sim_seed == 3
    assert sim.faults is not None and sim.faults.to_text() == "prober:error=0.1"
    assert station_cli_args(sim) == ["--sim", "--seed", "3"]
    assert sim.with_seed(5).sim_seed == 5 and sim.with_seed(5).faults == sim.faults
    bench = optional_station_source(parser.parse_args(["--station", str(SIM_STATION_FILE)]))
    assert bench is not None and bench.station_file == SIM_STATION_FILE
    assert station_cli_args(bench) == ["--station", str(SIM_STATION_FILE)]
    assert bench.with_seed(5) is bench
    assert bench.label == f"sim ({SIM_STATION_FILE})"
    assert optional_station_source(parser.parse_args([])) is None


def test_sim_params_file_is_parsed_once_and_named_again_for_children(tmp_path: Path) -> None:
    params = tmp_path / "p.toml"
    params.write_text("r_wire_bitline_ohm = 0.0\n")
    parser = argparse.ArgumentParser()
    add_station_options(parser)
    source = optional_station_source(
        parser.parse_args(["--sim", "--seed", "3", "--sim-params", str(params)]))
    assert source is not None and source.sim_params is not None
    assert source.sim_params.r_wire_bitline_ohm == 0.0 and source.sim_params_file == params
    assert station_cli_args(source) == ["--sim", "--seed", "3", "--sim-params", str(params)]


@pytest.mark.parametrize("argv", [
    ["station", "check", "--station", str(SIM_STATION_FILE), "--sim-params", "p.toml"],
    ["reproduce", "--station", str(SIM_STATION_FILE), "--sim-params", "p.toml", "--out", "x"],
])
def test_sim_params_without_sim_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "--sim-params only applies with --sim" in one_error_line(capsys)


def test_sim_params_with_an_unknown_key_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "typo.toml"
    params.write_text("r_wire_bitline = 0.0\n")
    assert main(["station", "check", "--sim", "--sim-params", str(params)]) == 2
    assert "unknown simulator parameter 'r_wire_bitline'" in one_error_line(capsys)
