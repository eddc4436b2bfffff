"""Wafer files from elsewhere (issue 10): every file of the crafted corpus
(benchmarks/reliability_inputs.py) is refused by `labctl inspect` with exit 2 and one line, by
every store reader with a one-line DataFormatError, without touching the file, and, seen from
outside, without reading other files, hanging on a FIFO or allocating what the file declares."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchmarks.reliability_inputs import (
    CRAFTED_LABELS,
    crafted_files,
    inspect_in_subprocess,
    read_everything,
)
from labctl.cli.main import main
from labctl.core.errors import DataFormatError, LabctlError
from labctl.store import WaferFile, open_wafer
from labctl.store.programmed import (
    ProgrammedRun,
    ProgrammedTile,
    add_programmed_run,
    read_programmed_run,
)
from labctl.store.validate import check_structure

#: Crafted files that must never be opened in the test process (a FIFO blocks a reader).
FIFO_LABELS = ("external storage on a FIFO", "the file itself a FIFO")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return dict(crafted_files(tmp_path_factory.mktemp("crafted")))


@pytest.fixture(scope="module")
def valid(corpus: dict[str, Path]) -> Path:
    return next(iter(corpus.values())).parent / "valid.h5"


LABELS = [label for label in CRAFTED_LABELS if label not in FIFO_LABELS]


def test_the_valid_file_of_the_corpus_is_read(
    valid: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(valid)]) == 0
    assert "die_03_00" in capsys.readouterr().out
    read_everything(valid)


@pytest.mark.parametrize("label", LABELS)
def test_inspect_refuses_a_crafted_file_in_one_line(
    corpus: dict[str, Path], label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(corpus[label])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labctl: error: "), err
    assert all(c.isprintable() for c in err[0]), err[0]
    assert "root:" not in err[0]  # nothing of /etc/passwd is shown


@pytest.mark.parametrize("label", LABELS)
def test_every_reader_refuses_a_crafted_file_and_changes_nothing(
    corpus: dict[str, Path], label: str, tmp_path: Path
) -> None:
    path = tmp_path / "wafer.h5"
    shutil.copyfile(corpus[label], path)
    before = path.read_bytes()
    for read in (read_everything, lambda p: WaferFile.open_for_resume(p).close()):
        with pytest.raises(DataFormatError) as info:
            read(path)
        assert "\n" not in str(info.value)
    with pytest.raises(LabctlError) as refused:  # the run's die, or no run to read
        read_programmed_run(path, "die_03_00")
    assert "\n" not in str(refused.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wafer.h5"]


def test_what_is_refused_before_any_dataset_is_read(corpus: dict[str, Path]) -> None:
    """Links, external storage, virtual datasets, unknown filters and oversized declarations
    are found by the structure walk alone (it reads no data)."""
    for label, words in [
        ("external storage on /etc/passwd", "external storage"),
        ("200 000 x 200 000 dataset declared", "declares shape (200000, 200000)"),
        ("chunk larger than its dataset", "chunks (4096, 4096)"),
        ("soft link", "soft link"),
        ("external link", "external link"),
        ("virtual dataset", "virtual dataset"),
        ("filter other than gzip/shuffle (lzf)", "filter 32000"),
    ]:
        refused = pytest.raises(DataFormatError, match=re.escape(words))
        with h5py.File(corpus[label], "r") as h5, refused:
            check_structure(h5, label)


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("NaN resistance", "r_parallel holds 1 resistance(s) that are not finite and positive"),
        ("-inf resistance", "r_antiparallel holds 1 resistance(s)"),
        ("negative resistance", "r_parallel holds 1 resistance(s)"),
        ("defect code 255", "unknown defect code(s) 255"),
        ('die named "die_00_02\\n"', r"'die_00_02\n' is not a die name"),
        ("wrong dtype (int32 resistances)", "r_parallel has type int32"),
        ("wrong shape vs geometry (all maps one row more)", "has shape (13, 8), expected"),
        ("tile geometry 200 000 x 200 000", "rows = 200000 outside 1 ... 4096"),
        ("control characters in failure_reason", "failure_reason holds control characters"),
    ],
)
def test_refusals_name_what_is_wrong(corpus: dict[str, Path], label: str, words: str) -> None:
    with pytest.raises(DataFormatError, match=re.escape(words)):
        read_everything(corpus[label])


@pytest.mark.slow
def test_seen_from_outside_no_hang_one_line_and_bounded_memory(
    corpus: dict[str, Path], valid: Path
) -> None:
    """`labctl inspect` in its own process: the FIFOs do not block it, and refusing a crafted
    file costs no more memory than reading the valid one (interpreter and imports included)."""
    baseline = inspect_in_subprocess(valid)
    assert baseline.status == 0, baseline.stderr_lines
    for label in (*FIFO_LABELS, "200 000 x 200 000 dataset declared"):
        outcome = inspect_in_subprocess(corpus[label], timeout_s=60)
        assert outcome.refused_in_one_line, (label, outcome)
        assert outcome.peak_rss_MB < baseline.peak_rss_MB + 20, (label, outcome, baseline)
        assert outcome.peak_rss_MB < 200, (label, outcome)


def test_dies_off_the_wafer_map_are_refused(valid: Path, tmp_path: Path) -> None:
    path = tmp_path / "off-map.h5"
    shutil.copyfile(valid, path)
    with h5py.File(path, "r+") as h5:
        h5.move("dies/die_04_00", "dies/die_00_00")  # a valid name, but not on the round wafer
        h5["dies/die_00_00"].attrs.update(col=0, row=0)
    with pytest.raises(DataFormatError, match="die_00_00 is not on the wafer map"):
        open_wafer(path)


def test_a_die_whose_position_disagrees_with_its_name_is_refused(
    valid: Path, tmp_path: Path
) -> None:
    path = tmp_path / "moved.h5"
    shutil.copyfile(valid, path)
    with h5py.File(path, "r+") as h5:
        h5["dies/die_04_00"].attrs["col"] = np.int64(5)
    with pytest.raises(DataFormatError, match=r"col, row = \(5, 0\), not its name's"):
        open_wafer(path)


def _programmed(valid: Path, tmp_path: Path) -> Path:
    path = tmp_path / "programmed.h5"
    shutil.copyfile(valid, path)
    shape = (12, 8)
    tile = ProgrammedTile(
        target_ap=np.zeros(shape, bool), r_read_ohm=np.full(shape, 4e3),
        pulses=np.ones(shape, np.uint8), defects=np.zeros(shape, np.uint8),
        new_defects=np.zeros(shape, bool), missed=np.zeros(shape, bool),
    )
    add_programmed_run(path, ProgrammedRun("die_03_00", {"mode": "ideal"}, {}, (tile,), ((0,),)))
    return path


@pytest.mark.parametrize(
    ("dataset", "data", "words"),
    [
        ("r_read", np.full((12, 8), np.nan, np.float32), "r_read holds 96 resistance"),
        ("missed", np.full((12, 8), 7, np.uint8), "missed holds values other than 0 and 1"),
        ("defects", np.full((12, 8), 9, np.uint8), "unknown defect code"),
        ("pulses", np.ones((8, 12), np.uint8), "pulses has shape (8, 12), expected (12, 8)"),
    ],
)
def test_programmed_runs_are_validated_too(
    valid: Path, tmp_path: Path, dataset: str, data: np.ndarray, words: str
) -> None:
    path = _programmed(valid, tmp_path)
    assert read_programmed_run(path, "die_03_00").name == "run_0001"
    with h5py.File(path, "r+") as h5:
        tile = h5["dies/die_03_00/programmed/run_0001/tile_0"]
        del tile[dataset]
        tile.create_dataset(dataset, data=data)
    with pytest.raises(DataFormatError, match=re.escape(words)):
        read_programmed_run(path, "die_03_00")


def test_a_wafer_id_with_control_characters_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "w.h5"
    with pytest.raises(LabctlError, match="control characters"):
        WaferFile.create(path, "W1\x1b[2J", {}, {}, dies=["die_03_00"])
    assert not path.exists()


# --------------------------------------------------------------------------- weight files


def _weight_file(tmp_path: Path, **changes: object) -> Path:
    """A valid (6, 4, 3) weight file whose labctl metadata has `changes` applied."""
    import json

    import torch
    from safetensors.torch import load_file, save_file

    from labctl.training.network import BinaryNetwork
    from labctl.training.weights_io import WeightMetadata, save_weights

    path = tmp_path / "w.safetensors"
    net = BinaryNetwork((6, 4, 3), generator=torch.Generator().manual_seed(0))
    meta = WeightMetadata(mode="ideal", seed=1, layer_sizes=(6, 4, 3), die="die_03_00")
    save_weights(path, net, meta)
    header = {**json.loads(meta.to_json()), **changes}
    save_file(load_file(str(path)), str(path), metadata={"labctl": json.dumps(header)})
    return path


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"die": "die_00_02\n"}, r"'die_00_02\n' is not a die name"),
        ({"die": "die_00_00"}, "die_00_00 is not on the wafer map"),
        ({"layer_sizes": [200_000, 10]}, "bad layer_sizes [200000, 10]"),
        ({"layer_sizes": [6, 4.5, 3]}, "bad layer_sizes"),
        ({"layer_sizes": [6, 5, 3]}, "layer0.sign is declared (1, 6, 4) I8, expected (1, 6, 5) I8"),
    ],
)
def test_weight_files_are_checked_before_their_tensors_are_loaded(
    tmp_path: Path, changes: dict[str, object], words: str
) -> None:
    from labctl.training.weights_io import load_weights

    path = _weight_file(tmp_path)
    assert load_weights(path)[1].die == "die_03_00"
    path = _weight_file(tmp_path, **changes)
    with pytest.raises(DataFormatError, match=re.escape(words)) as info:
        load_weights(path)
    assert "\n" not in str(info.value)
