"""The `--sim [--seed N] | --station FILE` options shared by every command that needs a station.

Only this module (and `labctl sim`) knows that a simulator exists: it turns the options into a
:class:`StationConfig`, starting the embedded simulated station for ``--sim`` and keeping it
running for as long as the caller uses the config.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl.errors import ConfigError
from labctl.station.config import StationConfig, load_station_config, sim_station_config

DEFAULT_SEED = 0


def add_station_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """Add the mutually exclusive ``--sim`` / ``--station FILE`` pair and ``--seed``."""
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--sim", action="store_true", help="use the embedded simulated station (virtual wafer)"
    )
    source.add_argument("--station", type=Path, metavar="FILE", help="station TOML file")
    parser.add_argument(
        "--seed", type=int, default=None,
        help=f"seed of the simulated wafer (only with --sim; default {DEFAULT_SEED})",
    )


def simulator_seed(args: argparse.Namespace) -> int:
    """The ``--seed`` given with ``--sim`` (or the default); ``--seed`` alone is refused."""
    if args.seed is not None and not args.sim:
        raise ConfigError("--seed only applies with --sim")
    return DEFAULT_SEED if args.seed is None else int(args.seed)


@contextmanager
def station_config_from_args(args: argparse.Namespace) -> Iterator[StationConfig]:
    """The station file's config, or the simulated station's (kept running meanwhile)."""
    seed = simulator_seed(args)
    if not args.sim:
        yield load_station_config(args.station)
        return
    from labctl.sim.embedded import start_sim_station  # only --sim needs the simulator

    with start_sim_station(seed=seed) as sim:
        yield sim_station_config(sim.resources)
