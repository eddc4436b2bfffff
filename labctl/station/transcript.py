"""Transcripts of a station: what each instrument was sent and answered, and their replay.

``labctl station record`` connects, attaches a :class:`~labctl.station.transport.
TranscriptRecorder` to every connection and runs the *standard exchange* (identify, status,
safe state) or, with ``--during``, a whole command; the transcript (JSON lines) says per message
which instrument, which direction, the exact bytes and when. :func:`replay_standard_exchange`
runs the same exchange against PyMeasure's ``expected_protocol`` adapters fed from a transcript,
so a recorded exchange becomes a byte-exact protocol test (``tools/transcript_to_test.py``):
every message the drivers send must be the recorded one, every recorded reply is consumed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from pymeasure.instruments import Instrument

from labctl.core.roles import ROLES, Role
from labctl.station.config import StationConfig
from labctl.station.connection import DRIVER_CLASSES
from labctl.station.read_channels import ReadChannels
from labctl.station.station import Station
from labctl.station.transport import TranscriptRecorder

#: What the standard exchange does, in order (the transcript header names it).
STANDARD_EXCHANGE = "identify, status, safe state"

Pairs = Sequence[tuple[str | None, str | None]]


def standard_exchange(station: Station) -> None:
    """Identify every instrument, read every state, bring everything to its safe state."""
    station.identify()
    station.status()
    station.safe_state()


def station_adapters(station: Station) -> list[Any]:
    """Every connection of the station: the four roles and the extra read channels."""
    return [d.adapter for d in (*station.instruments().values(), *station.read_channels.drivers)]


def record_standard_exchange(config: StationConfig, out: Path) -> int:
    """Connect, record the standard exchange into ``out`` (JSON lines), close; returns the
    number of messages and replies recorded."""
    recorder = TranscriptRecorder()
    with Station.connect(config) as station:
        adapters = station_adapters(station)
        recorder.attach(adapters)
        try:
            standard_exchange(station)
        finally:
            for adapter in adapters:  # the safe state on leaving is not part of the exchange
                adapter.recorder = None
    return recorder.write_jsonl(out, transcript_header(config, STANDARD_EXCHANGE))


def drivers_of_keys(keys: Sequence[str]) -> dict[str, str]:
    """Driver names of instrument keys seen in a transcript (roles and ``read_smu_<n>``)."""
    from labctl.core.roles import parse_read_channel_key
    from labctl.station.config import ROLE_DRIVERS

    drivers = {}
    for key in keys:
        if parse_read_channel_key(key) is not None:
            drivers[key] = ROLE_DRIVERS[Role.READ_SMU]
        elif key in {r.value for r in ROLES}:
            drivers[key] = ROLE_DRIVERS[Role(key)]
    return drivers


def transcript_header(config: StationConfig, exchange: str) -> dict[str, Any]:
    """The first line of a transcript: station, what was recorded, each instrument's driver."""
    drivers = {str(role): instrument.driver for role, instrument in config.instruments.items()}
    drivers.update({c.key: c.driver for c in config.read_channels})
    return {"station": config.name, "exchange": exchange, "drivers": drivers}


@contextmanager
def replay_station(config: StationConfig, drivers: Mapping[str, str],
                   pairs: Mapping[str, Pairs]) -> Iterator[Station]:
    """A Station whose drivers talk to ``expected_protocol`` adapters fed with ``pairs`` (per
    instrument key); on leaving, every adapter must have consumed all its pairs."""
    from pymeasure.test import expected_protocol  # test support: only replays need it

    with ExitStack() as stack:
        opened: dict[str, Instrument] = {}
        for key, driver in drivers.items():
            opened[key] = stack.enter_context(
                expected_protocol(DRIVER_CLASSES[driver], list(pairs.get(key, ()))))
        extras = [opened[k] for k in drivers if k not in {r.value for r in ROLES}]
        station = Station(
            replace(config, read_channels=()),
            prober=opened[Role.PROBER.value],
            read_smu=opened[Role.READ_SMU.value],
            gate_smu=opened[Role.GATE_SMU.value],
            controller=opened[Role.CONTROLLER.value],
            read_channels=ReadChannels(extras, config.limits),
        )
        yield station


def replay_standard_exchange(config: StationConfig, drivers: Mapping[str, str],
                             pairs: Mapping[str, Pairs]) -> None:
    """Run :func:`standard_exchange` against the recorded pairs (AssertionError on the first
    message that differs from the recording, or a recorded reply left unread)."""
    with replay_station(config, drivers, pairs) as station:
        standard_exchange(station)
