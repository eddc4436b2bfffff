"""`labctl tour`: a short, safe walk over one die, the first thing to run on a new bench.

It steps to a die, contacts, writes a tile to P then to AP, reads it back with batched reads and
prints the medians, then returns the station to its safe state (on every exit path).
"""

from __future__ import annotations

import argparse

from labctl.cli.commands import add_command
from labctl.cli.options import count, die
from labctl.cli.station_source import add_station_options, station_source
from labctl.core.wafer_map import parse_die_name


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "tour",
        description="A short, safe tour of the station: step to a die, contact, write tile 0 to "
        "P and AP, read it back (batched) and print median resistances and TMR.",
    )
    add_station_options(parser)
    parser.add_argument("--die", type=die, default="die_03_00", metavar="NAME",
                        help="die of the wafer map to visit (default die_03_00)")
    parser.add_argument("--tile", type=count, default=0, metavar="N",
                        help="tile to read (default 0)")
    parser.set_defaults(func=run_tour)


def run_tour(args: argparse.Namespace) -> int:
    import numpy as np

    from labctl.services.station_session import station_session
    from labctl.station import array_ops

    col, row = parse_die_name(args.die)  # on the wafer map: checked while parsing
    with station_session(station_source(args), "tour") as station:
        for role, idn in station.identify().items():
            print(f"{role:<11} {idn}")
        station.prober.step_to_die(col, row)
        station.prober.chuck.move_contact()
        print(f"{args.die}: in contact = {station.prober.in_contact}")
        array_ops.write_tile(station, args.tile, "P")
        r_p_ohm = array_ops.read_tile_resistance_ohm(station, args.tile)
        array_ops.write_tile(station, args.tile, "AP")
        r_ap_ohm = array_ops.read_tile_resistance_ohm(station, args.tile)
        tmr = r_ap_ohm / r_p_ohm - 1.0
        rows, cols = r_p_ohm.shape
        print(f"tile {args.tile}: {rows} x {cols} cells read in two batched acquisitions")
        print(f"  median R_P  = {np.median(r_p_ohm):9.1f} ohm")
        print(f"  median R_AP = {np.median(r_ap_ohm):9.1f} ohm")
        print(f"  median TMR  = {100 * np.median(tmr):9.1f} %")
        print(f"  cells reading open (> 1 Mohm) = {int(np.sum(r_p_ohm > 1e6))}")
    print("station left in its safe state")
    return 0
