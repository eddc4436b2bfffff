"""A guard on the training findings (docs/training.md, "Results" and "Paper protocol").

Fixed seeds, a small preset (the first 12 dies of the default simulated wafer's truth maps,
20 000 training images, 5 ideal and 4 statistics-aware epochs, hardware-aware on the fixed
mapping), every mode scored on the 10 000 test images. Asserted, with the bounds stated in
docs/training.md for this preset:
- unaware is clearly worse than hardware-aware (one weight set per die);
- statistics-aware under the paper's protocol (one weight set, fixed input-to-row mapping,
  nothing per die) recovers most of that loss: within its stated gap to the baseline, and
  clearly better than unaware.
A change to the emulation, the sampler, the training or the simulator's default wafer that
breaks a finding fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.sim.wafer import VirtualWafer
from labctl.store.layout import KIND_TRUTH
from labctl.testing.sim_maps import die_maps_from_truth
from labctl.training.pipeline import PipelineOptions, TrainingRun
from labctl.training.train import TrainConfig
from labctl.training.wafer_maps import WaferMaps

WAFER_SEED = 0
N_DIES = 12

#: Stated bounds for this preset, in points of test error (docs/training.md "Paper protocol"
#: gives what it measured: baseline 9.91 %, gaps unaware +4.41, statistics-aware +2.96,
#: hardware-aware +1.11). The preset's 12 dies include die_03_00, the wafer's worst.
UNAWARE_GAP_MIN = 3.0
PAPER_PROTOCOL_GAP_MAX = 3.5
HARDWARE_AWARE_GAP_MAX = 2.0
UNAWARE_MINUS_HARDWARE_AWARE_MIN = 2.0
UNAWARE_MINUS_PAPER_PROTOCOL_MIN = 1.0


@pytest.mark.slow
def test_the_findings_hold_on_a_small_fixed_preset(tmp_path: Path) -> None:
    wafer = VirtualWafer(WAFER_SEED)
    dies = tuple(die_maps_from_truth(die) for die in list(wafer.dies())[:N_DIES])
    maps = WaferMaps(wafer_id=f"sim-seed-{WAFER_SEED}", dies=dies, kind=KIND_TRUTH)
    config = TrainConfig(
        ideal_epochs=5,
        statistics_epochs=4,
        hardware_epochs=1,
        train_subset=20_000,
        routing=False,
        seed=0,
    )
    options = PipelineOptions(
        config=config, virtual_dies=0, validation_images=2000, validation_dies=16
    )
    run = TrainingRun(maps, tmp_path, options, progress=lambda _: None, allow_truth=True)
    summary = run.run(["ideal", "unaware", "statistics-aware", "hardware-aware"])

    baseline = 100 * summary["baseline_error"]
    mean = {m: 100 * entry["dies"]["mean"] for m, entry in summary["modes"].items()}
    found = f"baseline {baseline:.2f} %, modes {mean}"
    assert mean["unaware"] - baseline >= UNAWARE_GAP_MIN, found
    assert mean["hardware-aware"] - baseline <= HARDWARE_AWARE_GAP_MAX, found
    assert mean["unaware"] - mean["hardware-aware"] >= UNAWARE_MINUS_HARDWARE_AWARE_MIN, found
    assert mean["statistics-aware"] - baseline <= PAPER_PROTOCOL_GAP_MAX, found
    assert mean["unaware"] - mean["statistics-aware"] >= UNAWARE_MINUS_PAPER_PROTOCOL_MIN, found
    paper = summary["modes"]["statistics-aware"]
    assert paper["routing"] is False and set(paper["per_die_config"].values()) == {0}
