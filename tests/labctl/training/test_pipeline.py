"""All modes end to end on a small synthetic wafer (full-size tiles, a few training steps)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from training_helpers import synthetic_die

from labctl.core.errors import ConfigError, LabctlError
from labctl.store.layout import KIND_TRUTH
from labctl.training.mnist import VALIDATION_SEED
from labctl.training.pipeline import MODE_ORDER, PipelineOptions, TrainingRun, weight_path
from labctl.training.train import TrainConfig
from labctl.training.wafer_maps import WaferMaps
from labctl.training.weights_io import read_metadata

FULL = ((196, 100), (100, 10))
NAMES = ("die_02_00", "die_03_00", "die_04_00")


def tiny_options(seed: int = 0, routing: bool = True) -> PipelineOptions:
    config = TrainConfig(
        ideal_epochs=1,
        statistics_epochs=0.5,
        hardware_epochs=0.5,
        train_subset=2000,
        seed=seed,
        threads=1,
        routing=routing,
    )
    return PipelineOptions(config=config, virtual_dies=4, validation_images=1000, validation_dies=4)


@pytest.fixture(scope="module")
def wafer() -> WaferMaps:
    dies = tuple(
        synthetic_die(name, seed=i, shapes=FULL, rates=(0.002 * (i + 1), 0.002, 0.002, 0.002))
        for i, name in enumerate(NAMES)
    )
    return WaferMaps(wafer_id="synthetic", dies=dies)


def test_all_modes_write_weights_and_summary(wafer: WaferMaps, tmp_path: Path) -> None:
    messages: list[str] = []
    run = TrainingRun(wafer, tmp_path, tiny_options(), progress=messages.append)
    summary = run.run(MODE_ORDER)
    assert 0.0 < summary["baseline_error"] < 0.9
    for mode in ("unaware", "statistics-aware", "statistics-aware-routed", "hardware-aware"):
        dies = summary["modes"][mode]["dies"]
        assert list(dies["per_die"]) == list(NAMES)
        assert 0.0 <= dies["mean"] <= 1.0 and dies["std"] >= 0.0 and 0 <= dies["yield"] <= 1
    virtual = summary["modes"]["statistics-aware"]["virtual_dies"]
    assert virtual["n"] == 4 and "loss_p95" in virtual["sensitivity"]
    assert set(summary["timing_s"]) == set(MODE_ORDER)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    for mode in ("ideal", "unaware", "statistics-aware", "statistics-aware-routed"):
        assert read_metadata(weight_path(tmp_path, mode)).mode == mode
        assert read_metadata(weight_path(tmp_path, mode)).data_split == {
            "train_images": 59_000,
            "validation_images": 1000,
            "validation_seed": VALIDATION_SEED,
        }
    meta = read_metadata(weight_path(tmp_path, "hardware-aware", "die_03_00"))
    assert meta.die == "die_03_00" and meta.data_file == "synthetic"
    assert meta.maps_kind == "in_memory"
    # The paper protocol never routes and needs nothing per die...
    paper = summary["modes"]["statistics-aware"]
    assert paper["routing"] is False and set(paper["per_die_config"].values()) == {0}
    assert read_metadata(weight_path(tmp_path, "statistics-aware")).routing is None
    assert paper["model_selection"]["best_epoch"] >= -1  # -1: the (polarity-chosen) start
    assert len(paper["model_selection"]["scores"]) == 2  # start + half an epoch
    assert set(paper["polarity"]["scores"]) == {"none", "0", "1", "0,1"}
    assert 0.0 <= paper["validation"]["dies_mean"] <= 1.0
    # ...the routed mode stores a priority for any die and needs 8 + 7 bits per routed input...
    routed = summary["modes"]["statistics-aware-routed"]
    assert routed["per_die_config"]["routing_bits"] == 196 * 8 + 100 * 7
    stats_meta = read_metadata(weight_path(tmp_path, "statistics-aware-routed"))
    assert stats_meta.routing is not None and len(stats_meta.routing["priority"]) == 2
    # ...hardware-aware (routing=True) keeps each die's own rows, unaware none.
    assert meta.routing is not None and len(meta.routing["rows"][0]) == 196
    assert summary["modes"]["hardware-aware"]["per_die_config"]["weight_cells"] == 20_600
    assert read_metadata(weight_path(tmp_path, "unaware")).routing is None
    assert (
        meta.metrics["die_error"]
        == summary["modes"]["hardware-aware"]["dies"]["per_die"]["die_03_00"]
    )
    # Prerequisites are reused by a later run with the same settings...
    messages.clear()
    TrainingRun(wafer, tmp_path, tiny_options(), progress=messages.append).run(
        ["hardware-aware"], die="die_04_00"
    )
    assert any("reusing" in m and "statistics-aware-routed" in m for m in messages)
    assert not any(m.startswith("training ideal") for m in messages)
    # ...but not by one with another seed.
    messages.clear()
    TrainingRun(wafer, tmp_path, tiny_options(seed=1), progress=messages.append).run(["unaware"])
    assert any(m.startswith("training ideal") for m in messages)


def test_hardware_aware_without_routing_starts_from_the_paper_protocol(
    wafer: WaferMaps, tmp_path: Path
) -> None:
    messages: list[str] = []
    run = TrainingRun(wafer, tmp_path, tiny_options(routing=False), progress=messages.append)
    summary = run.run(["hardware-aware"], die="die_02_00")
    assert summary["modes"]["hardware-aware"]["routing"] is False
    assert any(m.startswith("training statistics-aware (") for m in messages)
    assert not any("statistics-aware-routed" in m for m in messages)
    assert read_metadata(weight_path(tmp_path, "hardware-aware", "die_02_00")).routing is None


def test_truth_maps_are_refused_unless_allowed(wafer: WaferMaps, tmp_path: Path) -> None:
    truth = dataclasses.replace(wafer, kind=KIND_TRUTH)
    with pytest.raises(ConfigError, match="ground truth"):
        TrainingRun(truth, tmp_path, tiny_options())
    run = TrainingRun(truth, tmp_path, tiny_options(), allow_truth=True)
    summary = run.run(["unaware"])
    assert summary["maps_kind"] == KIND_TRUTH
    assert summary["modes"]["unaware"]["maps_kind"] == KIND_TRUTH
    assert read_metadata(weight_path(tmp_path, "unaware")).maps_kind == KIND_TRUTH


def test_unknown_die_and_mode_are_refused(wafer: WaferMaps, tmp_path: Path) -> None:
    run = TrainingRun(wafer, tmp_path, tiny_options())
    with pytest.raises(LabctlError, match="die_07_03"):
        run.hardware_aware(["die_07_03"])
    with pytest.raises(LabctlError, match="unknown mode"):
        run.run(["magic"])
