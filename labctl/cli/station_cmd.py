"""`labctl station check`: connect to every instrument of a station and report what answers."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from labctl.cli.station_source import add_station_options, station_source
from labctl.core.roles import Role
from labctl.services.station_session import station_session
from labctl.station.config import StationConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("station", help="probe-station set-up and checks")
    actions = parser.add_subparsers(dest="station_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="connect, identify each instrument and report its state",
        description="Connect to every instrument of the station, identify it and report its "
        "role, VISA resource, identification and state. Nothing is moved or switched.",
    )
    add_station_options(check)
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Print one line per instrument; exit status 1 if any status query failed."""
    with station_session(station_source(args), "station check", read_only=True) as station:
        config = station.config
        identities = station.identify()
        status = station.status()
    print(_report(config, identities, status))
    return 1 if any(text.startswith("error:") for text in status.values()) else 0


def _report(config: StationConfig, identities: Mapping[Role, str],
            status: Mapping[Role, str]) -> str:
    rows = [("ROLE", "RESOURCE", "IDN", "STATUS")]
    for role, instrument in config.instruments.items():
        rows.append((str(role), instrument.resource, identities.get(role, ""),
                     status.get(role, "")))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"station {config.name}: {len(config.instruments)} instruments"]
    for row in rows:
        cells = [text.ljust(width) for text, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    return "\n".join(lines)

