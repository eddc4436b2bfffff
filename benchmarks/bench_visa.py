"""VISA round-trip latency and read throughput through pyvisa-py to the simulated station.

Measures, on the embedded simulator reached over loopback TCP exactly like a LAN instrument:
the round-trip latency of a query, and readings per second for single-cell reads, row-batched
reads (one buffered acquisition per row) and tile-batched reads (one per tile).

    python -m benchmarks.bench_visa [--seed N] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from labctl.sim.embedded import start_sim_station
from labctl.station import array_ops
from labctl.station.config import sim_station_config
from labctl.station.station import Station


def _timed(action: Callable[[], object], repeats: int) -> list[float]:
    durations_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        durations_s.append(time.perf_counter() - start)
    return durations_s


def run(seed: int = 0, repeats: int = 200) -> dict[str, float]:
    """Figures of one benchmark run (keys carry their units)."""
    with start_sim_station(seed=seed) as sim, Station.connect(
        sim_station_config(sim.resources)
    ) as station:
        station.prober.step_to_die(3, 0)
        station.prober.chuck.move_contact()
        rows, cols = station.tile_shape(0)
        array_ops.read_cell_resistance_ohm(station, 0, 0, 0)  # bias set-up, not timed

        query_s = _timed(lambda: station.controller.ask("*IDN?"), repeats)
        cell_s = _timed(lambda: array_ops.read_cell_resistance_ohm(station, 0, 5, 7), repeats)
        row_s = _timed(lambda: array_ops.read_row_resistance_ohm(station, 0, 5), repeats // 4)
        tile_s = _timed(lambda: array_ops.read_tile_resistance_ohm(station, 0), 10)
    return {
        "query_round_trip_median_us": 1e6 * statistics.median(query_s),
        "single_read_per_s": 1.0 / statistics.median(cell_s),
        "row_batched_read_per_s": cols / statistics.median(row_s),
        "tile_batched_read_per_s": rows * cols / statistics.median(tile_s),
        "tile_read_median_ms": 1e3 * statistics.median(tile_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    for name, value in run(args.seed, args.repeats).items():
        print(f"{name:<30} {value:12.1f}")


if __name__ == "__main__":
    main()
