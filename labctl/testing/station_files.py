"""Station files for a simulator served in another process (tests and benchmarks that act on the
station from outside labctl, as an operator's bench would be reached)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from labctl.core.roles import Role
from labctl.station.config import SIM_STATION_FILE, load_station_config


def write_station_file(path: Path, resources: Mapping[Role, str], name: str = "sim-served") -> Path:
    """A station file with the simulated station's limits and timeouts and ``resources``."""
    base = load_station_config(SIM_STATION_FILE)
    lines = ["[station]", f"name = {json.dumps(name)}",
             f"visa_library = {json.dumps(base.visa_library)}", "", "[limits]"]
    lines += [f"{key} = {value!r}" for key, value in vars(base.limits).items()]
    for role, instrument in base.instruments.items():
        lines += ["", f"[instruments.{role}]", f"driver = {json.dumps(instrument.driver)}",
                  f"resource = {json.dumps(resources[role])}",
                  f"timeout_s = {instrument.timeout_s!r}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def resources_for_port_base(port_base: int, host: str = "127.0.0.1") -> dict[Role, str]:
    """The resources of ``labctl sim serve --port-base P``: P, P+1, P+2, P+3 in role order."""
    roles = (Role.PROBER, Role.READ_SMU, Role.GATE_SMU, Role.CONTROLLER)
    return {role: f"TCPIP::{host}::{port_base + k}::SOCKET" for k, role in enumerate(roles)}
