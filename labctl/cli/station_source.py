"""The `--sim [--seed N] [--faults SPEC] | --station FILE` options shared by every command that
needs a station: a thin adapter that turns them into a
:class:`~labctl.services.station_source.StationSource`, which decides everything else (the
simulator, its faults, the station config, label and wafer id)."""

from __future__ import annotations

import argparse
from pathlib import Path

from labctl.cli.options import seed
from labctl.core.errors import ConfigError
from labctl.services.station_source import DEFAULT_SIM_SEED, StationSource


def add_source_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """Add the mutually exclusive ``--sim`` / ``--station FILE`` pair."""
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--sim", action="store_true", help="use the embedded simulated station (virtual wafer)"
    )
    source.add_argument("--station", type=Path, metavar="FILE", help="station TOML file")
    parser.add_argument(
        "--sim-params", type=Path, default=None, metavar="FILE",
        help="simulator parameters (TOML, only with --sim; every key and its default: "
        "data/sim-params/example.toml; unknown keys and out-of-range values are refused)",
    )


def simulator_source(args: argparse.Namespace, seed: int, faults: str | None = None
                     ) -> StationSource:
    """The simulated station of ``seed`` with the ``--sim-params`` file parsed (once, here)."""
    return StationSource.simulator(seed, faults, getattr(args, "sim_params", None))


def add_station_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """Add ``--sim`` / ``--station FILE``, ``--seed`` and ``--faults``."""
    add_source_options(parser, required)
    parser.add_argument(
        "--seed", type=seed, default=None, metavar="N",
        help="seed of the simulated wafer (only with --sim; default: the one the wafer file "
        f"measured, else {DEFAULT_SIM_SEED})",
    )
    parser.add_argument(
        "--faults", default=None, metavar="SPEC",
        help="inject faults into the simulated station (only with --sim), e.g. "
        "'read_smu:garble=0.01,timeout=0.005;prober:error=0.01;contact_loss=0.02' "
        "(syntax: docs/reliability.md)",
    )


def optional_station_source(args: argparse.Namespace) -> StationSource | None:
    """The source the options name, or None when neither ``--sim`` nor ``--station`` was given
    (where they are optional). ``--seed`` or ``--faults`` without ``--sim`` is refused."""
    if args.seed is not None and not args.sim:
        raise ConfigError("--seed only applies with --sim")
    faults = getattr(args, "faults", None)
    if faults is not None and not args.sim:
        raise ConfigError("--faults only applies with --sim")
    if getattr(args, "sim_params", None) is not None and not args.sim:
        raise ConfigError("--sim-params only applies with --sim")
    if args.sim:
        return simulator_source(args, DEFAULT_SIM_SEED if args.seed is None else args.seed,
                                faults)
    if args.station is not None:
        return StationSource.from_file(args.station)
    return None


def station_source(args: argparse.Namespace) -> StationSource:
    """The source named by the (required) station options."""
    source = optional_station_source(args)
    if source is None:
        raise ConfigError("give --sim or --station FILE")
    return source


def station_cli_args(source: StationSource | None) -> list[str]:
    """The options that name ``source`` again, for child commands (faults are not passed on)."""
    if source is None:
        return []
    if source.station_file is None:
        params = ["--sim-params", str(source.sim_params_file)] if source.sim_params_file else []
        return ["--sim", "--seed", str(source.sim_seed), *params]
    return ["--station", str(source.station_file)]
