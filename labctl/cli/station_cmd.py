"""`labctl station check`: connect to every instrument of a station and report what answers."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl.errors import ConfigError
from labctl.station.config import StationConfig, load_station_config, sim_station_config
from labctl.station.station import Station

DEFAULT_SEED = 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("station", help="probe-station set-up and checks")
    actions = parser.add_subparsers(dest="station_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="connect, identify each instrument and report its state",
        description="Connect to every instrument of the station, identify it and report its "
        "role, VISA resource, identification and state. Nothing is moved or switched.",
    )
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--sim", action="store_true", help="start the embedded simulated station and check it"
    )
    source.add_argument("--station", type=Path, metavar="FILE", help="station TOML file")
    check.add_argument(
        "--seed", type=int, default=None,
        help=f"simulator seed (only with --sim; default {DEFAULT_SEED})",
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Print one line per instrument; exit status 1 if any status query failed."""
    if args.seed is not None and not args.sim:
        raise ConfigError("--seed only applies with --sim")
    with _station_config(args) as config:
        station = Station.connect(config)
        try:
            identities = station.identify()
            status = station.status()
        finally:
            station.close()
    print(_report(config, identities, status))
    return 1 if any(text.startswith("error:") for text in status.values()) else 0


@contextmanager
def _station_config(args: argparse.Namespace) -> Iterator[StationConfig]:
    """The station file's config, or the simulated station's (kept running meanwhile)."""
    if not args.sim:
        yield load_station_config(args.station)
        return
    from labctl.sim.embedded import start_sim_station  # only --sim needs the simulator

    seed = DEFAULT_SEED if args.seed is None else args.seed
    with start_sim_station(seed=seed) as sim:
        yield sim_station_config(sim.resources)


def _report(config: StationConfig, identities: dict[str, str], status: dict[str, str]) -> str:
    rows = [("ROLE", "RESOURCE", "IDN", "STATUS")]
    for role, instrument in config.instruments.items():
        rows.append((role, instrument.resource, identities.get(role, ""), status.get(role, "")))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"station {config.name}: {len(config.instruments)} instruments"]
    for row in rows:
        cells = [text.ljust(width) for text, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    return "\n".join(lines)

