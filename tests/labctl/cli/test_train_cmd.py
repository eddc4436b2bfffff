"""`labctl train` / `labctl evaluate` on a small synthetic wafer file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import synthetic_die, write_wafer_file

from labctl.cli.main import main
from labctl.training.network import BinaryNetwork
from labctl.training.weights_io import WeightMetadata, save_weights

FULL = ((196, 100), (100, 10))
NAMES = ("die_02_00", "die_03_00")


@pytest.fixture(scope="module")
def wafer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dies = [
        synthetic_die(n, seed=i, shapes=FULL, rates=(0.003, 0.002, 0.002, 0.002))
        for i, n in enumerate(NAMES)
    ]
    return write_wafer_file(tmp_path_factory.mktemp("w") / "wafer.h5", dies)


def test_train_ideal_then_evaluate_as_json(
    wafer_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = [
        "train",
        "--mode",
        "ideal",
        "--wafer",
        str(wafer_file),
        "--out",
        str(out),
        "--quick",
        "--epochs",
        "0.05",
        "--threads",
        "1",
        "--virtual-dies",
        "0",
    ]
    assert main(argv) == 0
    assert "ideal (baseline)" in capsys.readouterr().out
    weights = out / "ideal.safetensors"
    assert weights.is_file() and (out / "summary.json").is_file()
    argv = [
        "evaluate",
        "--weights",
        str(weights),
        "--wafer",
        str(wafer_file),
        "--virtual-dies",
        "3",
        "--json",
        "--threads",
        "1",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["dies"]["per_die"]) == list(NAMES)
    assert result["mode"] == "ideal" and result["virtual_dies"]["n"] == 3


def test_evaluate_a_folder_of_per_die_weights(
    wafer_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, name in enumerate(NAMES):
        net = BinaryNetwork(generator=torch.Generator().manual_seed(i))
        meta = WeightMetadata(mode="hardware-aware", seed=0, layer_sizes=net.layer_sizes, die=name)
        save_weights(tmp_path / "hw" / f"{name}.safetensors", net, meta)
    assert main(["evaluate", "--weights", str(tmp_path / "hw"), "--wafer", str(wafer_file)]) == 0
    text = capsys.readouterr().out
    assert "die_03_00" in text and "mean" in text and "yield" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mode", "ideal", "--die", "die_02_00"], "--die applies"),
        (["--mode", "unaware", "--epochs", "2"], "--epochs needs"),
        (["--mode", "hardware-aware", "--die", "die_07_03"], "die_07_03"),
    ],
)
def test_bad_train_arguments_are_one_line_errors(
    wafer_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["train", "--wafer", str(wafer_file), "--out", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_evaluate_refuses_a_file_that_is_not_weights(
    wafer_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--weights", str(wafer_file), "--wafer", str(wafer_file)]) == 2
    assert "not a safetensors" in capsys.readouterr().err
