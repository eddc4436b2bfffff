"""The `--sim [--seed N] [--faults SPEC] | --station FILE` options shared by every command that
needs a station.

Only this module (and `labctl sim`) knows that a simulator exists: it turns the options into a
:class:`StationConfig`, starting the embedded simulated station for ``--sim`` (with the faults of
``--faults SPEC`` injected, docs/reliability.md) and keeping it running for as long as the caller
uses the config.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.core.errors import ConfigError
from labctl.station.config import StationConfig, load_station_config

if TYPE_CHECKING:
    from labctl.sim.faults import FaultSpec

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
    add_faults_option(parser)


def add_faults_option(parser: argparse.ArgumentParser) -> None:
    """``--faults SPEC``: faults the simulated instruments inject (only with ``--sim``)."""
    parser.add_argument(
        "--faults", default=None, metavar="SPEC",
        help="inject faults into the simulated station (only with --sim), e.g. "
        "'read_smu:garble=0.01,timeout=0.005;prober:error=0.01;contact_loss=0.02' "
        "(syntax: docs/reliability.md)",
    )


def fault_spec(args: argparse.Namespace) -> FaultSpec | None:
    """The parsed ``--faults`` (None without it); ConfigError for a bad SPEC or one given
    without ``--sim``."""
    text = getattr(args, "faults", None)
    if text is None:
        return None
    if not getattr(args, "sim", False):
        raise ConfigError("--faults only applies with --sim")
    from labctl.sim.faults import parse_fault_spec

    return parse_fault_spec(text)


def simulator_seed(args: argparse.Namespace) -> int:
    """The ``--seed`` given with ``--sim`` (or the default); ``--seed`` alone is refused."""
    if args.seed is not None and not args.sim:
        raise ConfigError("--seed only applies with --sim")
    return DEFAULT_SEED if args.seed is None else int(args.seed)


@contextmanager
def station_config_from_args(args: argparse.Namespace) -> Iterator[StationConfig]:
    """The station file's config, or the simulated station's (kept running meanwhile)."""
    seed = simulator_seed(args)
    faults = fault_spec(args)
    if not args.sim:
        yield load_station_config(args.station)
        return
    from labctl.services.station_source import (
        simulated_station_config,  # only --sim needs the simulator
    )

    with simulated_station_config(seed, faults) as config:
        yield config
