"""`labctl program` and `labctl validate` on the simulated station, and their one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardware"))
from hardware_helpers import foreign_weights_file, wafer_copy, weights_file

from labctl.cli.main import main
from labctl.store.programmed import read_programmed_run

DIE = "die_02_00"


def test_program_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On a die without bit-line resistance (--sim-params) the die sums its cells as the
    emulation does, up to noise and intermittent cells: in situ agrees with the read-back
    map (with the default IR drop it agrees measurably less: tests/labctl/hardware)."""
    wafer = wafer_copy(tmp_path)
    weights = weights_file(routed=True)
    linear = tmp_path / "linear-bit-lines.toml"
    linear.write_text("r_wire_bitline_ohm = 0.0\n")
    base = ["--sim", "--sim-params", str(linear), "--wafer", str(wafer), "--weights",
            str(weights), "--die", DIE]
    assert main(["program", *base, "--max-pulses", "3"]) == 0
    out = capsys.readouterr().out
    assert f"{DIE}  run_0001" in out
    run = read_programmed_run(wafer, DIE)
    assert run.settings["max_pulses"] == 3 and run.weights["file"] == weights.name
    # a separate process-like call: a fresh simulator, the run restored before inference
    assert main(["validate", *base, "--in-situ-images", "30", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["dies"][0]
    assert result["die"] == DIE and result["run"] == "run_0001"
    assert 0 < result["emulated_error"] < 0.5 and result["in_situ_images"] == 30
    assert result["agreement"] >= 0.9


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--die": "die_09_09"}, "die_09_09 is not on the wafer map"),
        ({"--die": "die_05_00"}, "no die 'die_05_00'"),
        ({"--weights": "missing.safetensors"}, "weight file not found"),
        ({"--weights": "FOREIGN"}, "does not fit tile 0"),
        ({"--seed": "3"}, "pass --seed 0"),
        ({"--max-pulses": "0"}, "--max-pulses: must be an integer >= 1"),
    ],
)
def test_bad_inputs_give_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], message: str
) -> None:
    wafer = wafer_copy(tmp_path)
    options = {"--wafer": str(wafer), "--weights": str(weights_file(routed=True)), "--die": DIE}
    options.update(change)
    if options["--weights"] == "FOREIGN":
        options["--weights"] = str(foreign_weights_file())
    elif options["--weights"] == "missing.safetensors":
        options["--weights"] = str(tmp_path / "missing.safetensors")
    argv = ["program", "--sim", *[item for pair in options.items() for item in pair]]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labctl: error:") and message in err[0]
