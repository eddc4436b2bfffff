"""`labctl sim ...`: the simulated probe station.

``labctl sim serve [--seed N] [--port-base P] [--host H] [--faults SPEC]`` serves the four
emulated instruments until Ctrl-C (or SIGTERM) and prints each role's VISA resource string;
``--faults`` makes them misbehave (docs/reliability.md) and the injected faults are counted on
exit. Further ``sim``
sub-commands live in their own modules (:data:`SIM_COMMAND_MODULES`), each with
``register(sim_subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from labctl.cli.commands import add_command
from labctl.cli.options import add_seed_option

#: Modules adding `labctl sim <name>` sub-commands; a module that does not exist is skipped.
SIM_COMMAND_MODULES = ("labctl.cli.sim_truth_cmd",)

_POLL_S = 0.2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "sim",
        description="The simulated probe station: a physics-backed virtual wafer whose "
        "instruments are served over VISA (TCP sockets on 127.0.0.1).",
    )
    parser.set_defaults(func=lambda args: _print_help(parser))
    sim_subparsers = parser.add_subparsers(dest="sim_command", metavar="SIM_COMMAND")

    serve = sim_subparsers.add_parser(
        "serve",
        help="run the simulated station standalone until Ctrl-C",
        description="Serve the prober, the read and gate SMUs and the row/column controller "
        "of a virtual wafer; prints each instrument's VISA resource string.",
    )
    add_seed_option(serve, "virtual wafer seed (default 0)", default=0)
    serve.add_argument(
        "--port-base",
        type=int,
        default=None,
        metavar="P",
        help="listen on P (prober), P+1 (read SMU), P+2 (gate SMU), P+3 (controller); "
        "default: free ports",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)"
    )
    serve.add_argument(
        "--faults", default=None, metavar="SPEC",
        help="inject faults, e.g. 'read_smu:garble=0.01,timeout=0.005;prober:error=0.01;"
        "controller:restart=0.001;contact_loss=0.02' (syntax: docs/reliability.md)",
    )
    serve.add_argument("--sim-params", type=Path, default=None, metavar="FILE",
                       help="simulator parameters (TOML, data/sim-params/example.toml)")
    serve.add_argument(
        "--read-channels", type=int, default=None, metavar="N",
        help="read channels (read_smu, read_smu_2 ...; the extra ones on the ports after "
        "P+3); default: as data/stations/sim.toml",
    )
    serve.set_defaults(func=serve_station)

    for name in SIM_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sim_subparsers)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def serve_station(args: argparse.Namespace) -> int:
    """Start the station, print the resources, serve until SIGINT/SIGTERM, stop cleanly."""
    from labctl.sim.embedded import start_sim_station  # keeps `labctl --help` fast
    from labctl.sim.faults import parse_fault_spec
    from labctl.sim.params_file import load_sim_params

    faults = parse_fault_spec(args.faults) if args.faults is not None else None
    params = load_sim_params(args.sim_params) if args.sim_params is not None else None
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        from labctl.station.config import SIM_STATION_FILE, load_station_config

        channels = args.read_channels or load_station_config(SIM_STATION_FILE).n_read_channels
        with start_sim_station(seed=args.seed, params=params, port_base=args.port_base,
                               host=args.host,
                               faults=faults, read_channels=channels) as sim:
            print(f"simulated station, wafer seed {args.seed} (Ctrl-C stops)")
            if faults is not None and not faults.empty:
                print(f"  injecting faults: {faults.to_text()}")
            for role, resource in [*sim.resources.items(),
                                   *sim.read_channel_resources.items()]:
                print(f"  {role:<11} {resource}")
            sys.stdout.flush()
            while not stop_requested:
                time.sleep(_POLL_S)
            counts = sim.fault_counts()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if faults is not None and not faults.empty:
        for role, count in counts.items():
            injected = ", ".join(f"{n} {k}" for k, n in sorted(count.injected.items())) or "none"
            print(f"  {role:<11} {count.lines} lines, {count.replies} replies; "
                  f"injected: {injected}")
    print("simulated station stopped")
    return 0
