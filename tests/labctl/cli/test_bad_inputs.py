"""Every bad input of the CLI issue gives one line on stderr and exit status 2, before anything
is created or sent to an instrument (docs/cli.md)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.cli.main import main
from labctl.services.station_source import StationSource
from labctl.station.config import SIM_STATION_FILE

SEED_MESSAGE = "argument --seed: must be an integer >= 0, got '-1'"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("labctl: error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_station(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to start or reach a station."""

    def refuse(self: StationSource) -> None:
        raise AssertionError("a station was opened for a refused command line")

    monkeypatch.setattr(StationSource, "open", refuse)


@pytest.fixture(scope="module")
def wafer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real wafer file (the simulator's truth of seed 3: wafer id sim-seed-3)."""
    path = tmp_path_factory.mktemp("wafer") / "truth.h5"
    assert main(["sim", "truth", "--seed", "3", "--out", str(path)]) == 0
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "--sim", "--seed", "-1", "--out", "{tmp}/w.h5"],
        ["tour", "--sim", "--seed", "-1"],
        ["station", "check", "--sim", "--seed", "-1"],
        ["program", "--sim", "--seed", "-1", "--wafer", "{wafer}", "--weights", "w.safetensors",
         "--die", "die_03_00"],
        ["validate", "--sim", "--seed", "-1", "--wafer", "{wafer}", "--weights",
         "w.safetensors", "--die", "die_03_00"],
        ["gui", "--sim", "--seed", "-1"],
        ["train", "--mode", "ideal", "--wafer", "{wafer}", "--out", "{tmp}/w", "--seed", "-1"],
        ["reproduce", "--sim", "--seed", "-1", "--out", "{tmp}/r"],
        ["sim", "serve", "--seed", "-1"],
        ["sim", "truth", "--seed", "-1", "--out", "{tmp}/t.h5"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_a_negative_seed_is_one_message_everywhere(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], no_station: None
) -> None:
    argv = [a.format(tmp=tmp_path, wafer=tmp_path / "none.h5") for a in argv]
    assert main(argv) == 2
    assert SEED_MESSAGE in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_the_held_out_seed_is_checked_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reproduce", "--sim", "--holdout-seed", "-1", "--out", str(tmp_path)]) == 2
    assert "argument --holdout-seed: must be an integer >= 0, got '-1'" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["sweep", "--sim", "--out", "{out}/w.h5", "--dies", "die_03_00"], "file"),
        (["sim", "truth", "--out", "{out}/t.h5"], "file"),
        (["report", "--wafer", "{wafer}", "--out", "{out}/report"], "dir"),
        (["train", "--mode", "ideal", "--wafer", "{wafer}", "--out", "{out}/weights"], "dir"),
        (["reproduce", "--sim", "--quick", "--out", "{out}/repro"], "dir"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else value,
)
def test_out_in_a_folder_that_cannot_be_written_is_refused_first(
    argv: list[str], kind: str, tmp_path: Path, wafer: Path,
    capsys: pytest.CaptureFixture[str], no_station: None,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a path under a file: unwritable even for root
    capsys.readouterr()
    argv = [a.format(out=blocker, wafer=wafer) for a in argv]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert f"cannot write --out {blocker}/" in line and "is not a directory" in line
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permission bits do not stop root (or apply on Windows)")
def test_out_in_a_read_only_folder_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_station: None
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        for argv in (["sweep", "--sim", "--out", f"{locked}/w.h5"],
                     ["reproduce", "--sim", "--out", f"{locked}/repro"]):
            assert main(argv) == 2
            assert f"{locked} is not writable" in one_error_line(capsys)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    "argv",
    [
        ["tour", "--sim", "--die", "die_99_99"],
        ["program", "--sim", "--wafer", "{wafer}", "--weights", "w.safetensors", "--die",
         "die_99_99"],
        ["validate", "--sim", "--wafer", "{wafer}", "--weights", "w.safetensors", "--die",
         "die_99_99"],
        ["train", "--mode", "hardware-aware", "--wafer", "{wafer}", "--out", "{tmp}/w", "--die",
         "die_99_99"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_die_off_the_wafer_map_is_refused_before_the_prober_hears_of_it(
    argv: list[str], tmp_path: Path, wafer: Path, capsys: pytest.CaptureFixture[str],
    no_station: None,
) -> None:
    capsys.readouterr()
    assert main([a.format(wafer=wafer, tmp=tmp_path) for a in argv]) == 2
    assert "die_99_99 is not on the wafer map" in one_error_line(capsys)


def test_global_options_after_the_command(
    wafer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "run.log"
    assert main(["inspect", "--wafer", str(wafer), "-v", "--log-file", str(log_file)]) == 0
    assert "sim-seed-3" in capsys.readouterr().out
    assert log_file.exists()
    assert main(["-v", "inspect", "--wafer", str(wafer)]) == 0
    assert main(["inspect", "--verbose", str(wafer)]) == 0  # the positional alias too


def test_a_missing_or_doubled_wafer_file(
    wafer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect"]) == 2
    assert "the wafer file is required: --wafer FILE" in one_error_line(capsys)
    assert main(["report", "--wafer", str(tmp_path / "none.h5"), "--out", str(tmp_path)]) == 2
    assert "no such file" in one_error_line(capsys)
    assert main(["inspect", "--wafer", str(wafer), str(tmp_path / "other.h5")]) == 2
    assert "two wafer files given" in one_error_line(capsys)


def test_sweep_out_must_name_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    no_station: None) -> None:
    assert main(["sweep", "--sim", "--out", str(tmp_path)]) == 2
    assert "is a directory; give a file name inside it" in one_error_line(capsys)


def _station_file(tmp_path: Path, **replace: str) -> Path:
    text = SIM_STATION_FILE.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_a_serial_port_name_is_explained_without_a_pyvisa_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = _station_file(tmp_path, **{"TCPIP::127.0.0.1::15000::SOCKET": "COM3"})
    with caplog.at_level(logging.WARNING):
        assert main(["station", "check", "--station", str(path)]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert "'COM3' is a serial port name, not a VISA resource string: write ASRL3::INSTR" \
        in captured.out
    assert "read_termination" not in captured.out + captured.err
    assert not [r for r in caplog.records if r.name.startswith("pyvisa")]


def _ivi_library_present() -> bool:
    import pyvisa

    try:
        pyvisa.ResourceManager("@ivi").close()
    except Exception:
        return False
    return True


@pytest.mark.skipif(_ivi_library_present(), reason="a vendor VISA library is installed here")
def test_a_missing_vendor_visa_library_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _station_file(tmp_path, **{'visa_library = "@py"': 'visa_library = "@ivi"'})
    assert main(["station", "check", "--station", str(path)]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert "no VISA library found (visa_library = '@ivi' loads a vendor VISA: NI-VISA" \
        in captured.out
    assert 'set visa_library = "@py"' in captured.out
    assert "Could not open VISA library:" not in captured.out


def test_the_window_without_a_display_is_one_line_not_a_core_dump(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "labctl.cli.main", "gui", "--sim"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display to open the window on" in lines[0], lines
