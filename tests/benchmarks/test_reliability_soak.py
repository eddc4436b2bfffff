"""The soak acceptance at reduced size: small dies of the simulated wafer swept under a heavy
fault mix, two fault seeds: every die complete or failed with a reason, every complete die
equal to the fault-free sweep (same defect map, resistances within read noise), and every kind
of fault actually injected. benchmarks/bench_reliability.py runs the full wafer."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reliability_soak import compare, faulty_reply_fraction, sweep_in_process
from labctl.sim.faults import PROBABILITIES, parse_fault_spec, with_seed
from labctl.sim.params import SimParams

#: No intermittent cells here: their reads flip at random by design, so two sweeps may classify
#: them differently, and this test compares a faulty sweep with a fault-free one cell by cell.
PARAMS = SimParams(tile_shapes=((40, 20), (20, 10)), intermittent_fraction=0.0)
DIES = "die_02_00,die_03_00,die_04_00,die_05_00,die_01_01,die_02_01,die_03_01,die_04_01"
HEAVY = parse_fault_spec(
    "garble=0.02;timeout=0.004;delay=0.004,delay_s=0.6;drop=0.004;refuse=0.2;restart=0.003;"
    "prober:error=0.05;smu:compliance=0.03;contact_loss=0.04"
)
TIMEOUTS_s = {"prober": 0.3, "read_smu": 0.5, "gate_smu": 0.3, "controller": 0.3}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("soak") / "reference.h5"
    run = sweep_in_process(path, 4, DIES, None, PARAMS, timeouts_s=TIMEOUTS_s)
    assert run.error is None
    assert list(run.statuses.values()).count("complete") >= 6
    return path


@pytest.mark.slow
def test_sweeps_under_faults_equal_the_fault_free_sweep(reference: Path, tmp_path: Path) -> None:
    injected: set[str] = set()
    for fault_seed in (1, 2):
        path = tmp_path / f"faulty-{fault_seed}.h5"
        run = sweep_in_process(path, 4, DIES, with_seed(HEAVY, fault_seed), PARAMS,
                               timeouts_s=TIMEOUTS_s)
        assert run.error is None
        assert faulty_reply_fraction(run.counts) >= 0.01
        result = compare(path, reference)
        assert result.accepted, result
        assert result.dies == 8 and result.complete + result.failed_with_reason == 8
        assert result.complete >= 5  # recovery works: most dies survive the heavy mix
        assert result.cells_compared > 0
        injected |= set(run.total_counts().injected)
    assert injected >= set(PROBABILITIES) | {"contact_loss"}
