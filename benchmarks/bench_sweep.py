"""Sweep benchmarks: VISA round trips per characterised cell, and a full simulated wafer sweep.

1. Round trips, counted by wrapping every instrument adapter's ``_write`` and ``_read``. A
   round trip is a query that waits for the instrument's reply (one read); commands without a
   reply are one-way messages that do not wait (counted as writes: every message sent, queries
   included). Side by side on tile 1 of a
   die, for the same characterisation (tile writes to P and AP, every cell read after each):
   labctl's batched reads (one buffered acquisition per tile) against a per-cell
   set-address-then-read loop (``ROW r``, ``COL c``, ``:READ?`` per cell). Also the figure of a
   whole die as the sweep does it (step, contact, checks, both tiles, separate).
2. Wall time of ``labctl sweep --sim`` over all 36 dies, as a subprocess (start-up included).

    python -m benchmarks.bench_sweep [--seed N] [--skip-full]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labctl.sim.embedded import start_sim_station
from labctl.station import array_ops
from labctl.station.config import sim_station_config
from labctl.station.snapshot import station_snapshot
from labctl.station.station import Station
from labctl.store.wafer_file import WaferFile
from procedures.die_run import DieRun
from procedures.measurement import DieCharacteriser
from procedures.retry import RetryPolicy
from procedures.settings import CharacterisationSettings

BENCH_TILE = 1
BENCH_DIE = (3, 0)


@dataclass
class Counts:
    writes: int = 0
    reads: int = 0


@contextmanager
def counting(station: Station) -> Iterator[Counts]:
    """Count messages written to and read from every instrument while the block runs."""
    counts = Counts()
    originals: list[tuple[Any, str, Callable[..., Any]]] = []
    for driver in station.instruments().values():
        adapter = driver.adapter
        write, read = adapter._write, adapter._read

        def counted_write(command: str, _w: Callable[..., Any] = write, **kw: Any) -> Any:
            counts.writes += 1
            return _w(command, **kw)

        def counted_read(_r: Callable[..., Any] = read, **kw: Any) -> Any:
            counts.reads += 1
            return _r(**kw)

        originals += [(adapter, "_write", write), (adapter, "_read", read)]
        adapter._write, adapter._read = counted_write, counted_read
    try:
        yield counts
    finally:
        for adapter, name, original in originals:
            setattr(adapter, name, original)


def per_cell_characterisation(station: Station, tile: int,
                              settings: CharacterisationSettings) -> np.ndarray:
    """The naive way: tile writes, then address and read one cell at a time."""
    rows, cols = station.tile_shape(tile)
    out = np.empty((settings.cycles, 2, rows, cols))
    controller, smu = station.controller, station.read_smu
    read_voltage_V = station.limits.read_voltage_V
    for cycle in range(settings.cycles):
        for phase, target in enumerate(("P", "AP")):
            array_ops.write_tile(station, tile, target, settings.write_voltage_V,
                                 settings.write_width_s)
            station.ensure_bias(settings.nplc)
            controller.tile = tile
            controller.scan_mode = "CELL"
            controller.routed = True
            for row in range(rows):
                for col in range(cols):
                    controller.row = row
                    controller.column = col
                    out[cycle, phase, row, col] = read_voltage_V / abs(float(smu.current))
    return out


def round_trips(seed: int) -> dict[str, float]:
    settings = CharacterisationSettings()
    figures: dict[str, float] = {}
    with start_sim_station(seed=seed) as sim, Station.connect(
        sim_station_config(sim.resources)
    ) as station:
        station.prober.step_to_die(*BENCH_DIE)
        station.prober.chuck.move_contact()
        rows, cols = station.tile_shape(BENCH_TILE)
        cells = rows * cols
        array_ops.read_row_resistance_ohm(station, BENCH_TILE, 0)  # bias set-up, not counted

        characteriser = DieCharacteriser(station, settings, RetryPolicy())
        with counting(station) as batched:
            start = time.perf_counter()
            reads = characteriser.measure_tile(BENCH_TILE, rows, cols)
            batched_s = time.perf_counter() - start
        with counting(station) as naive:
            start = time.perf_counter()
            naive_reads = per_cell_characterisation(station, BENCH_TILE, settings)
            naive_s = time.perf_counter() - start
        # Both ways measure the same cells: medians agree within read noise.
        ratio = np.median(reads.parallel_ohm) / np.median(naive_reads[:, 0])
        assert abs(ratio - 1) < 0.05, ratio
        station.safe_state()

        with tempfile.TemporaryDirectory() as tmp:
            store = WaferFile.create(Path(tmp) / "bench.h5", "bench", station_snapshot(station),
                                     {"settings": settings.as_dict()}, ["die_04_00"])
            run = DieRun(station, store, settings, RetryPolicy(), emit=lambda t, r: None,
                         should_stop=lambda: False, max_gate_leakage_A=1e-6,
                         checkpoint_interval_s=3600.0)
            with counting(station) as die:
                outcome = run.run("die_04_00", 1, 0, 1)
            store.close()
        assert outcome.status == "complete", outcome
        die_cells = sum(r * c for r, c in (station.tile_shape(k) for k in range(2)))

    figures["tile_cells"] = cells
    figures["batched_round_trips_per_cell"] = batched.reads / cells
    figures["batched_messages_per_cell"] = batched.writes / cells
    figures["per_cell_round_trips_per_cell"] = naive.reads / cells
    figures["per_cell_messages_per_cell"] = naive.writes / cells
    figures["batched_tile_s"] = batched_s
    figures["per_cell_tile_s"] = naive_s
    figures["die_round_trips_per_cell"] = die.reads / die_cells
    figures["die_messages_per_cell"] = die.writes / die_cells
    return figures


def full_sweep(seed: int) -> dict[str, float]:
    """`labctl sweep --sim` of all 36 dies in a subprocess; wall time including start-up."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "wafer.h5"
        command = [sys.executable, "-m", "labctl.cli.main", "sweep", "--sim", "--seed",
                   str(seed), "--out", str(out)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall_s = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"sweep failed: {done.stderr.strip()[-500:]}")
        complete = done.stdout.count(" complete ")
    return {"full_sweep_wall_s": wall_s, "full_sweep_dies_complete": complete}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-full", action="store_true", help="only count round trips")
    args = parser.parse_args()
    figures = round_trips(args.seed)
    if not args.skip_full:
        figures.update(full_sweep(args.seed))
    for name, value in figures.items():
        print(f"{name:<32} {value:12.4g}")


if __name__ == "__main__":
    main()
