"""Every path to the instruments goes through the interlocks: drivers and VISA connections are
made only by the station (which hands them its limits and installs the transport check), so the
procedures, the command line, the GUI, the tools and the benchmarks cannot reach an instrument
around them."""

from __future__ import annotations

import re
from pathlib import Path

from labctl.sim.embedded import start_sim_station
from labctl.station.config import sim_station_config
from labctl.station.station import Station

ROOT = Path(__file__).resolve().parents[3]
#: Ways to open an instrument without the station.
DIRECT = re.compile(r"\b(LabctlKeithley2450|ArrayController|LabctlVelox|Keithley2450|Velox|"
                    r"RoleAdapter|VISAAdapter)\(|\bopen_resource\(|ResourceManager\(")
CALLERS = ("labctl", "procedures", "gui", "tools", "benchmarks")


def test_only_the_station_opens_instruments() -> None:
    offenders = []
    for folder in CALLERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(("labctl/station/", "labctl/sim/")):
                continue  # the station itself; the simulator's own servers
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if DIRECT.search(line) and not line.lstrip().startswith(("#", '"', "'")):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_the_station_arms_every_interlock() -> None:
    with start_sim_station(seed=1) as sim:
        station = Station.connect(sim_station_config(sim.resources))
        try:
            limits = station.limits
            assert station.read_smu.max_source_voltage_V == limits.max_read_voltage_V
            assert station.gate_smu.max_source_voltage_V == limits.max_gate_voltage_V
            for smu in (station.read_smu, station.gate_smu):
                assert smu.max_current_limit_A == limits.compliance_current_A
                assert smu.adapter.interlock == smu.check_command
            assert station.controller.max_write_voltage_V == limits.max_write_voltage_V
            assert station.controller.max_input_voltage_V == limits.max_read_voltage_V
            assert station.controller.adapter.interlock == station.controller.check_command
            assert station.prober.adapter.interlock == station.prober.check_command
        finally:
            station.close()
