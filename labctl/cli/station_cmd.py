"""`labctl station check`: connect to every instrument of a station and report what answers.

Each instrument is opened and identified on its own, so one that fails does not hide the others:
every instrument gets a line, each failure the fix for it (a missing VISA backend, a wrong
resource string, a timeout ...). When all of them answer, their state is read through a
read-only station session. Nothing is moved or switched. Exit status 2 if any failed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.cli.commands import add_command
from labctl.cli.station_source import add_station_options, station_source
from labctl.core.errors import InstrumentError, LabctlError

if TYPE_CHECKING:
    from labctl.station.config import InstrumentConfig, StationConfig


@dataclass
class Row:
    """One instrument's line of the report."""

    key: str
    resource: str
    identity: str = ""
    status: str = ""
    error: str | None = None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "station")
    actions = parser.add_subparsers(dest="station_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="connect, identify each instrument and report its state",
        description="Connect to every instrument of the station, identify it and report its "
        "role, VISA resource, identification and state, and for each one that fails, why and "
        "what to do. Nothing is moved or switched. Exit status 2 if any instrument failed.",
    )
    add_station_options(check)
    check.set_defaults(func=run_check)
    record = actions.add_parser(
        "record",
        help="record what each instrument is sent and answers (a transcript)",
        description="Connect and record every message sent to each instrument and every reply, "
        "with its exact bytes and time, during the standard exchange (identify, status, safe "
        "state) or, with --during, during a whole labctl command; written as JSON lines. "
        "tools/transcript_to_test.py turns a transcript into a byte-exact protocol test.",
    )
    add_station_options(record, required=False)
    record.add_argument("--out", required=True, type=Path, metavar="TRANSCRIPT",
                        help="transcript file to write (JSON lines)")
    record.add_argument("--during", nargs=argparse.REMAINDER, default=None, metavar="COMMAND",
                        help="record a whole labctl command instead (its own station options), "
                        "e.g. --during tour --sim")
    record.set_defaults(func=run_record)


def run_record(args: argparse.Namespace) -> int:
    """Record the standard exchange (or the ``--during`` command) into ``--out``."""
    from labctl.station.transcript import drivers_of_keys, record_standard_exchange
    from labctl.station.transport import TranscriptRecorder, recording

    if args.during:
        from labctl.cli.main import main

        recorder = TranscriptRecorder()
        with recording(recorder):
            status = main(list(args.during))
        keys = list(dict.fromkeys(entry["role"] for entry in recorder.entries))
        header = {"station": "", "exchange": "during: " + " ".join(args.during),
                  "drivers": drivers_of_keys(keys), "status": status}
        count = recorder.write_jsonl(args.out, header)
    else:
        if not (args.sim or args.station):
            raise LabctlError("give --sim or --station FILE (or --during COMMAND)")
        with station_source(args).open() as config:
            count = record_standard_exchange(config, args.out)
    print(f"{count} messages and replies recorded in {args.out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Print one line per instrument (and a fix under each failure); exit status 2 if any
    instrument could not be opened, identified or queried."""
    from labctl.services.station_lock import StationLock

    source = station_source(args)
    with source.open() as config:
        with StationLock(config, "station check"):
            rows = [_probe(config, instrument) for instrument in _instruments(config)]
        if not any(row.error for row in rows):
            _add_status(config, rows, external=not source.simulated)
    print(_report(config, rows))
    failed = [row.key for row in rows if row.error]
    if failed:
        raise LabctlError(f"{len(failed)} of {len(rows)} instruments failed the check: "
                          f"{', '.join(failed)} (fixes above)")
    return 0


def _add_status(config: StationConfig, rows: list[Row], external: bool) -> None:
    """Identities and states of a station whose every instrument answered, read through a
    read-only session (the station lock held, nothing switched)."""
    from labctl.services.station_session import config_session

    try:
        with config_session(config, "station check", read_only=True,
                            external=external) as station:
            identities = {str(role): idn for role, idn in station.identify().items()}
            status = {str(role): text for role, text in station.status().items()}
    except InstrumentError as exc:  # lost between the two passes
        rows[0].error = str(exc)
        return
    for row in rows:
        row.identity = identities.get(row.key, row.identity)
        row.status = status.get(row.key, "")
        if row.status.startswith("error:"):
            row.error = row.status.removeprefix("error:").strip()


def _instruments(config: StationConfig) -> list[InstrumentConfig]:
    return [*config.instruments.values(), *config.read_channels]


def _key(instrument: InstrumentConfig) -> str:
    return str(getattr(instrument, "key", None) or instrument.role)


def _probe(config: StationConfig, instrument: InstrumentConfig) -> Row:
    """Open ``instrument`` alone, identify it, close it; the failure, if any, in the row."""
    from labctl.station.connection import probe_instrument

    row = Row(_key(instrument), instrument.resource)
    try:
        row.identity = probe_instrument(config, instrument)
    except LabctlError as exc:
        row.error = str(exc)
    return row


def _report(config: StationConfig, rows: list[Row]) -> str:
    from labctl.station.visa_errors import failure_fix

    table = [("ROLE", "RESOURCE", "IDN", "STATUS")]
    table += [(row.key, row.resource, row.identity, row.status if not row.error else "FAILED")
              for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    lines = [f"station {config.name}: {len(rows)} instruments"]
    for i, line in enumerate(table):
        cells = [text.ljust(width) for text, width in zip(line[:3], widths, strict=True)]
        lines.append("  ".join([*cells, line[3]]).rstrip())
        row = rows[i - 1] if i else None
        if row is not None and row.error:
            lines.append(f"    error: {row.error}")
            lines.append(f"    fix:   {failure_fix(row.error)}")
    return "\n".join(lines)
