"""One read-only look at every instrument of a connected station, for the instruments panel.

Only queries are sent (no setting changes), and each role is read on its own, so one instrument
that does not answer shows as an error without hiding the others.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from drivers.keithley2450 import LabctlKeithley2450
from drivers.velox import CONTACT_TOLERANCE_um
from labctl.core.roles import Role
from labctl.station.station import Station

T = TypeVar("T")

@dataclass(frozen=True)
class ProberStatus:
    map_position: tuple[int, int] | None
    chuck_um: tuple[float, float, float]
    in_contact: bool


@dataclass(frozen=True)
class SmuStatus:
    output_on: bool
    level_V: float
    compliance_A: float
    tripped: bool


@dataclass(frozen=True)
class ControllerStatus:
    routed: bool
    tile: int
    row: int
    column: int


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
    prober = attempt(Role.PROBER, lambda: _prober_status(station))
    smus: dict[Role, SmuStatus] = {}
    for role, smu in ((Role.READ_SMU, station.read_smu), (Role.GATE_SMU, station.gate_smu)):
        status = attempt(role, functools.partial(_smu_status, smu))
        if status is not None:
            smus[role] = status
    controller = attempt(Role.CONTROLLER, lambda: _controller_status(station))
    return InstrumentStatus(idn, prober, smus, controller, errors)


def _identity(driver: Any) -> str:
    return str(driver.id).strip()


def _prober_status(station: Station) -> ProberStatus:
    x_um, y_um, z_um = (float(v) for v in station.prober.chuck_position)
    position: tuple[int, int] | None
    try:
        col, row = station.prober.map_position
        position = (int(col), int(row))
    except Exception:  # no die under the probes yet (before the first step)
        position = None
    return ProberStatus(position, (x_um, y_um, z_um), abs(z_um) <= CONTACT_TOLERANCE_um)


def _smu_status(smu: LabctlKeithley2450) -> SmuStatus:
    return SmuStatus(
        output_on=bool(smu.source_enabled),
        level_V=float(smu.source_voltage),
        compliance_A=float(smu.compliance_current),
        tripped=bool(smu.compliance_tripped),
    )


def _controller_status(station: Station) -> ControllerStatus:
    ctrl: Any = station.controller
    return ControllerStatus(bool(ctrl.routed), int(ctrl.tile), int(ctrl.row), int(ctrl.column))
