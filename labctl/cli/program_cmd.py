"""`labctl program`: write a weight set onto one die (or every complete die) with write-verify,
recording the read-back map in the wafer file (/dies/<die>/programmed/<run>)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.cli.commands import add_command
from labctl.cli.options import add_wafer_option, die_or_all, positive, sim_seed_from
from labctl.cli.station_source import add_station_options, station_source
from labctl.core.errors import ConfigError

if TYPE_CHECKING:
    from labctl.services.station_source import StationSource


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "program",
        description="Write the weights W onto die NAME (or every complete die) row by row, read "
        "every cell back, re-pulse the cells that missed their state up to --max-pulses "
        "pulses, record cells that never switch as new defects, and store the read-back map "
        "with the weights' identity in WAFER.h5 under /dies/<die>/programmed/<run>. W may be "
        "a folder of per-die (hardware-aware) weights <die>.safetensors.",
    )
    add_station_options(parser)
    add_target_options(parser)
    parser.add_argument("--max-pulses", type=positive, default=5, metavar="N",
                        help="write pulses per cell at most (default 5)")
    parser.add_argument("--amplitude", type=float, default=None, metavar="V",
                        help="write pulse amplitude (default: the station's write voltage)")
    parser.add_argument("--width", type=float, default=None, metavar="S",
                        help="write pulse width (default: the station's write width)")
    parser.set_defaults(func=run)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--wafer, --weights and --die, shared with `labctl validate`; with --sim and no --seed,
    the simulated wafer is the one the wafer file measured."""
    add_wafer_option(parser, help="wafer file holding the dies' characterisation")
    parser.add_argument("--weights", required=True, type=Path, metavar="W",
                        help="weight file (.safetensors) or folder of <die>.safetensors")
    parser.add_argument("--die", required=True, type=die_or_all, metavar="NAME|all",
                        help="die to use (e.g. die_03_00) or all complete dies")
    sim_seed_from(parser, "wafer")


def check_sim_seed(source: StationSource, wafer: Path) -> None:
    """With --sim, the simulated wafer must be the one the file measured (sim-seed-N)."""
    from labctl.store.reader import open_wafer
    from labctl.store.truth import SIM_WAFER_PREFIX, truth_wafer_id

    if not source.simulated:
        return
    seed = source.sim_seed
    with open_wafer(wafer) as reader:
        wafer_id = reader.info.wafer_id
    if wafer_id.startswith(SIM_WAFER_PREFIX) and wafer_id != truth_wafer_id(seed):
        raise ConfigError(f"{wafer} measured {wafer_id}, but the simulator runs seed {seed}; "
                          f"pass --seed {wafer_id.removeprefix(SIM_WAFER_PREFIX)}")


def run(args: argparse.Namespace) -> int:
    from labctl.hardware.deploy import die_routing
    from labctl.hardware.service import die_maps, program_weights
    from labctl.services.console import Steps
    from labctl.services.station_session import station_session
    from labctl.store.wafer_file import reserved_writer
    from procedures.program import WriteVerifySettings

    source = station_source(args)
    settings = WriteVerifySettings(
        max_pulses=args.max_pulses, amplitude_V=args.amplitude, width_s=args.width
    )
    from labctl.hardware.service import selected_dies, weight_set_for

    dies = selected_dies(args.wafer, args.die)
    weights = {die: weight_set_for(args.weights, die) for die in dies}
    maps = {die: die_maps(args.wafer, die) for die in dies}
    for die in dies:  # weights that do not fit the die are refused before anything moves
        die_routing(weights[die], maps[die])
    check_sim_seed(source, args.wafer)
    print(f"{'die':<10} {'run':<9} {'weights':<28} {'cells':>6} {'missed':>6} "
          f"{'new def.':>8} {'pulses':>7}", flush=True)
    with (reserved_writer(args.wafer), station_session(source, "program") as station,
          Steps() as steps):
        steps.bar("programming (write-verify)", len(dies))
        for die in dies:
            result = program_weights(station, args.wafer, weights[die], maps[die], settings)
            s = result.summary()
            print(f"{die:<10} {result.name:<9} {weights[die].path.name:<28} {s['cells']:>6} "
                  f"{s['missed']:>6} {s['new_defects']:>8} {s['pulses']:>7}", flush=True)
            steps.advance(f"{die} programmed")
    return 0
