"""The bad-input acceptance at reduced size: seeded random and mutated inputs for every parser
(fault SPEC, station file, die selection, sweep options, HDF5 files read / inspected / resumed,
the instruments' protocols): zero crashes, zero partial writes, and both outcomes (accepted and
refused) reached. Weight files are tried through labctl.training.weights_io.load_weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.reliability_inputs import (
    Tally,
    fuzz_die_selection,
    fuzz_fault_spec,
    fuzz_hdf5,
    fuzz_protocols,
    fuzz_station_file,
    fuzz_sweep_cli,
    fuzz_weights,
)
from benchmarks.reliability_soak import SOAK_FAULTS
from labctl.testing.synthetic import write_synthetic_wafer


def check(tally: Tally, must_accept: bool = True) -> None:
    assert tally.crashes == [], tally.line()
    assert tally.partial_writes == [], tally.line()
    assert tally.refused > 0, tally.line()
    if must_accept:
        assert tally.accepted > 0, tally.line()


def test_text_parsers(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    check(fuzz_fault_spec(120, rng, SOAK_FAULTS))
    check(fuzz_station_file(80, rng, tmp_path))
    check(fuzz_die_selection(200, rng), must_accept=False)


def test_sweep_options(tmp_path: Path) -> None:
    check(fuzz_sweep_cli(30, np.random.default_rng(2), tmp_path))


def test_hdf5_files(tmp_path: Path) -> None:
    base = write_synthetic_wafer(tmp_path / "base.h5", dies=["die_03_00", "die_04_00"],
                                 tile_shapes=((12, 8), (8, 4)))
    variants = tmp_path / "variants"
    variants.mkdir()
    for tally in fuzz_hdf5(36, np.random.default_rng(3), base, variants):
        check(tally, must_accept=False)


def test_protocols() -> None:
    for tally in fuzz_protocols(150, np.random.default_rng(4)):
        check(tally)


def test_weight_files(tmp_path: Path) -> None:
    check(fuzz_weights(60, np.random.default_rng(5), tmp_path))
