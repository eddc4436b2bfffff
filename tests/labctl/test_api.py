"""labctl.api: a script sweeps the simulated wafer, reads it back as pandas tables, and trains,
programs and validates a die, with the command line's checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labctl import api
from labctl.core.errors import ConfigError, LabctlError
from labctl.core.resources import data_file
from labctl.store.reader import open_wafer as open_reader

DIE = "die_03_00"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("api") / "w.h5"
    result = api.sweep(api.simulator(seed=1), out, dies=[DIE], nplc=0.2)
    assert result.finished and result.outcome is api.SweepOutcome.FINISHED
    return out


def test_sweep_writes_the_dies_with_the_given_settings(swept: Path) -> None:
    with open_reader(swept) as reader:
        assert reader.info.wafer_id == "sim-seed-1"
        assert list(reader.dies) == [DIE]
    assert api.open_wafer(swept).settings["nplc"] == pytest.approx(0.2)
    assert swept.with_name("w.h5.log").is_file()


def test_dies_table_agrees_with_the_cells_table(swept: Path) -> None:
    wafer = api.open_wafer(swept)
    assert wafer.wafer_id == "sim-seed-1" and wafer.sim_seed == 1
    dies = wafer.dies()
    assert list(dies.index) == [DIE]
    row = dies.loc[DIE]
    assert row["status"] == "complete" and (row["col"], row["row"]) == (3, 0)
    cells = wafer.cells(DIE)
    assert len(cells) == row["cells"]
    counts = cells["defect"].value_counts()
    assert counts["ok"] == row["ok"]
    for column in api.DEFECT_COLUMNS:
        assert counts[column.removeprefix("n_")] == row[column]
    assert row["yield_pct"] == pytest.approx(100.0 * row["ok"] / row["cells"])
    ok = cells[cells["defect"] == "ok"]
    assert row["median_r_parallel_ohm"] == pytest.approx(ok["r_parallel_ohm"].median())
    assert set(cells.columns) >= {"tile", "row", "col", "tmr", "write_failures"}


def test_a_bad_setting_or_die_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    out = tmp_path / "w.h5"
    with pytest.raises(ConfigError, match="no setting 'nplcs'"):
        api.sweep(api.simulator(), out, dies=[DIE], nplcs=1.0)
    with pytest.raises(LabctlError, match="nplc"):
        api.sweep(api.simulator(), out, dies=[DIE], nplc=100.0)
    with pytest.raises(LabctlError, match="die_99_99"):
        api.sweep(api.simulator(), out, dies=["die_99_99"])
    assert list(tmp_path.iterdir()) == []


def test_resume_finishes_a_file_with_its_own_settings(tmp_path: Path) -> None:
    out = tmp_path / "w.h5"
    control = api.SweepControl()
    control.request_pause()  # stops when the first die ends
    first = api.sweep(api.simulator(2), out, dies=["die_03_00", "die_04_00"], nplc=0.2,
                      control=control)
    assert first.outcome is api.SweepOutcome.PAUSED
    statuses = api.open_wafer(out).dies()["status"]
    assert list(statuses) == ["complete", "pending"]
    assert api.sweep(api.simulator(2), out, resume=True).finished
    assert set(api.open_wafer(out).dies()["status"]) == {"complete"}
    with pytest.raises(LabctlError, match="nplc"):  # what is measured is fixed for the file
        api.sweep(api.simulator(2), out, resume=True, nplc=1.0)


def test_stations_and_settings() -> None:
    assert api.open_station().simulated
    assert api.open_station(sim_seed=4).sim_seed == 4
    station = api.open_station(data_file("stations/example-lab.toml"))
    assert not station.simulated
    with pytest.raises(ConfigError):
        api.open_station(data_file("stations/example-lab.toml"), sim_seed=1)
    with pytest.raises(LabctlError):
        api.open_station("no-such-station.toml")
    settings = api.sweep_settings()
    assert settings.loc["nplc", "measured"] and not settings.loc["retry_attempts", "measured"]
    assert settings.loc["nplc", "maximum"] == pytest.approx(10.0)


def test_reading_errors(tmp_path: Path, swept: Path) -> None:
    with pytest.raises(LabctlError, match="not found"):
        api.open_wafer(tmp_path / "missing.h5")
    with pytest.raises(LabctlError, match="no die 'die_04_00'"):
        api.open_wafer(swept).cells("die_04_00")
    assert api.sim_seed_of("sim-seed-12") == 12 and api.sim_seed_of("lot7-w3") is None


@pytest.mark.slow
def test_train_program_validate_on_the_simulated_wafer(tmp_path: Path, swept: Path) -> None:
    wafer = tmp_path / "w.h5"
    wafer.write_bytes(swept.read_bytes())
    summary = api.train(wafer, tmp_path / "train", "ideal", quick=True, virtual_dies=0)
    assert 0.0 < summary["baseline_error"] < 0.5
    weights = tmp_path / "train" / "ideal.safetensors"
    with pytest.raises(ConfigError, match="sim-seed-1"):  # another virtual wafer than measured
        api.program(wafer, weights, DIE, station=api.simulator(5))
    programmed = api.program(wafer, weights, DIE)  # the simulator of the wafer's own seed
    assert list(programmed.index) == [DIE] and programmed.loc[DIE, "run"] == "run_0001"
    assert programmed.loc[DIE, "cells"] > 0
    validated = api.validate(wafer, weights, DIE, in_situ_images=10)
    assert isinstance(validated, pd.DataFrame) and list(validated.index) == [DIE]
    row = validated.loc[DIE]
    assert 0.0 <= row["emulated_error"] <= 1.0 and row["in_situ_images"] == 10
    assert np.isfinite(row["agreement"])
