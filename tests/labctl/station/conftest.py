"""Fakes for station tests: drivers on recording adapters that share one command log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from pymeasure.adapters import Adapter

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.velox import LabctlVelox
from labctl.core.errors import InstrumentError
from labctl.station.config import SIM_STATION_FILE, load_station_config
from labctl.station.station import Station

#: Default replies of each fake instrument, by exact command.
DEFAULT_REPLIES: dict[str, dict[str, str]] = {
    "prober": {
        "*IDN?": "FormFactor,Velox,FAKE,1.0",
        "MoveChuckSeparation 100": "0: -300.0",
        "ReadChuckPosition Y Z": "0: 0.0 0.0 -300.0",
        "ReadMapPosition": "0: 3 1 0.0 0.0 0 1",
    },
    "read_smu": {"*IDN?": "KEITHLEY INSTRUMENTS,MODEL 2450,FAKE1,1.0", "SYST:ERR?": '0,"No error"',
                 "OUTPUT?": "0", ":SOUR:VOLT?": "0"},
    "gate_smu": {"*IDN?": "KEITHLEY INSTRUMENTS,MODEL 2450,FAKE2,1.0", "SYST:ERR?": '0,"No error"',
                 "OUTPUT?": "0", ":SOUR:VOLT?": "0"},
    "controller": {"*IDN?": "LABCTL,MTJ-ARRAY-CTRL,FAKE,1.0", "SYST:ERR?": '0,"No error"',
                   "ROUT?": "0"},
}


@dataclass
class CommandLog:
    """Every (role, command) any fake instrument received, in order."""

    entries: list[tuple[str, str]] = field(default_factory=list)
    #: role -> commands that fail (raise InstrumentError) instead of being answered.
    failing: dict[str, set[str]] = field(default_factory=dict)

    def of(self, role: str) -> list[str]:
        return [command for who, command in self.entries if who == role]


class RecordingAdapter(Adapter):
    """Answers queries from a reply table (or a callable) and logs every command."""

    def __init__(
        self, role: str, commands: CommandLog, replies: dict[str, str | Callable[[], str]]
    ) -> None:
        super().__init__()
        self.role = role
        self.commands = commands
        self.replies = replies
        self.pending: list[str] = []

    def _write(self, command: str, **kwargs: object) -> None:
        if command in self.commands.failing.get(self.role, set()):
            raise InstrumentError(f"{self.role} (fake): sending: timed out")
        self.commands.entries.append((self.role, command))
        if command in self.replies:
            reply = self.replies[command]
            self.pending.append(reply() if callable(reply) else reply)

    def _read(self, **kwargs: object) -> str:
        if not self.pending:
            raise InstrumentError(f"{self.role} (fake): reading the reply: timed out")
        return self.pending.pop(0)

    def close(self) -> None:
        self.commands.entries.append((self.role, "<close>"))


@dataclass
class FakeBench:
    station: Station
    log: CommandLog
    replies: dict[str, dict[str, str | Callable[[], str]]]


@pytest.fixture
def fake_bench() -> FakeBench:
    log = CommandLog()
    replies: dict[str, dict[str, str | Callable[[], str]]] = {
        role: dict(table) for role, table in DEFAULT_REPLIES.items()
    }
    adapters = {role: RecordingAdapter(role, log, replies[role]) for role in replies}
    station = Station(
        load_station_config(SIM_STATION_FILE),
        prober=LabctlVelox(adapters["prober"]),
        read_smu=LabctlKeithley2450(adapters["read_smu"]),
        gate_smu=LabctlKeithley2450(adapters["gate_smu"]),
        controller=ArrayController(adapters["controller"]),
    )
    return FakeBench(station, log, replies)
