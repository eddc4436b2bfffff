"""One read-only look at every instrument of a connected station, for the instruments panel.

Only queries are sent (no setting changes), and each role is read on its own, so one instrument
that does not answer shows as an error without hiding the others. The per-instrument readers are
the station's own (labctl.station.status).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from labctl.core.roles import Role
from labctl.station.station import Station
from labctl.station.status import (
    ControllerStatus,
    ProberStatus,
    SmuStatus,
    read_controller_status,
    read_prober_status,
    read_smu_status,
)

T = TypeVar("T")


@dataclass(frozen=True)
class InstrumentStatus:
    """What the panel shows; a role missing from a section failed, its message in ``errors``."""

    idn: dict[Role, str] = field(default_factory=dict)
    prober: ProberStatus | None = None
    smus: dict[Role, SmuStatus] = field(default_factory=dict)
    controller: ControllerStatus | None = None
    errors: dict[Role, str] = field(default_factory=dict)

    @property
    def safe(self) -> bool:
        """Every SMU off, nothing routed and the chuck separated (as far as could be read)."""
        smus_off = all(not smu.output_on for smu in self.smus.values())
        unrouted = self.controller is None or not self.controller.routed
        separated = self.prober is None or not self.prober.in_contact
        return smus_off and unrouted and separated


def read_instrument_status(station: Station) -> InstrumentStatus:
    """Query identification and state of every instrument (a few round trips each)."""
    errors: dict[Role, str] = {}

    def attempt(role: Role, query: Callable[[], T]) -> T | None:
        try:
            return query()
        except Exception as exc:  # an instrument that fails is reported, the others still read
            errors.setdefault(role, f"{type(exc).__name__}: {exc}")
            return None

    idn: dict[Role, str] = {}
    for role, driver in station.instruments().items():
        value = attempt(role, functools.partial(_identity, driver))
        if value is not None:
            idn[role] = value
    prober = attempt(Role.PROBER, lambda: read_prober_status(station.prober))
    smus: dict[Role, SmuStatus] = {}
    for role, smu in ((Role.READ_SMU, station.read_smu), (Role.GATE_SMU, station.gate_smu)):
        status = attempt(role, functools.partial(read_smu_status, smu, with_trip=True))
        if status is not None:
            smus[role] = status
    controller = attempt(Role.CONTROLLER, lambda: read_controller_status(station.controller))
    return InstrumentStatus(idn, prober, smus, controller, errors)


def _identity(driver: Any) -> str:
    return str(driver.id).strip()
