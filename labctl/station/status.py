"""What each instrument is doing now, read with queries only (no setting changes).

The readers return structured states that the instruments panel shows; :func:`station_status`
turns them into one line per role for ``labctl station check``, with each error queue's content
(reading a queue empties it). Each role is read on its own: an instrument that does not answer
shows as ``error: ...`` without hiding the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.scpi import describe_error
from drivers.velox import CONTACT_TOLERANCE_um, LabctlVelox
from labctl.core.errors import LabctlError
from labctl.core.roles import Role


@dataclass(frozen=True)
class ProberStatus:
    """Die under the probes (None: the prober reports none, see ``map_error``) and chuck."""

    map_position: tuple[int, int] | None
    chuck_um: tuple[float, float, float]
    map_error: str | None = None

    @property
    def in_contact(self) -> bool:
        return abs(self.chuck_um[2]) <= CONTACT_TOLERANCE_um


@dataclass(frozen=True)
class SmuStatus:
    """Output, source level and current limit; ``tripped`` only when asked for."""

    output_on: bool
    level_V: float
    compliance_A: float
    tripped: bool | None = None


@dataclass(frozen=True)
class ControllerStatus:
    """Routing and the addressed tile, row and column."""

    routed: bool
    tile: int
    row: int
    column: int


def read_prober_status(prober: LabctlVelox) -> ProberStatus:
    """Chuck position, then the map position (before the first step there may be none)."""
    x_um, y_um, z_um = (float(v) for v in prober.chuck_position)
    try:
        col, row = prober.map_position
    except (LabctlError, ConnectionError) as exc:
        return ProberStatus(None, (x_um, y_um, z_um), map_error=str(exc))
    return ProberStatus((int(col), int(row)), (x_um, y_um, z_um))


def read_smu_status(smu: LabctlKeithley2450, with_trip: bool = False) -> SmuStatus:
    """Output state, source level, current limit (and whether it tripped, ``with_trip``)."""
    output_on = bool(smu.source_enabled)
    level_V = float(smu.source_voltage)
    compliance_A = float(smu.compliance_current)
    tripped = bool(smu.compliance_tripped) if with_trip else None
    return SmuStatus(output_on, level_V, compliance_A, tripped)


def read_controller_status(controller: ArrayController) -> ControllerStatus:
    """Routing and address of the controller."""
    return ControllerStatus(bool(controller.routed), int(controller.tile), int(controller.row),
                            int(controller.column))


def station_status(
    prober: LabctlVelox,
    read_smu: LabctlKeithley2450,
    gate_smu: LabctlKeithley2450,
    controller: ArrayController,
) -> dict[Role, str]:
    """Role -> a one-line state summary; a failing query shows as ``error: ...``."""
    reports: dict[Role, Callable[[], str]] = {
        Role.PROBER: lambda: prober_summary(prober),
        Role.READ_SMU: lambda: smu_summary(read_smu),
        Role.GATE_SMU: lambda: smu_summary(gate_smu),
        Role.CONTROLLER: lambda: controller_summary(controller),
    }
    result = {}
    for role, report in reports.items():
        try:
            result[role] = report()
        except (LabctlError, ConnectionError, ValueError) as exc:
            result[role] = f"error: {exc}"
    return result


def prober_summary(prober: LabctlVelox) -> str:
    """Die under the probes (if the prober knows) and chuck height."""
    status = read_prober_status(prober)
    height = "contact" if status.in_contact else "separated"
    if status.map_position is None:
        where = f"no map position ({status.map_error})"
    else:
        where = f"die ({status.map_position[0]}, {status.map_position[1]})"
    return f"{where}, chuck {height} (z {status.chuck_um[2]:g} um)"


def smu_summary(smu: LabctlKeithley2450) -> str:
    """Output state, source level, current limit and queued errors."""
    status = read_smu_status(smu)
    output = "on" if status.output_on else "off"
    return (f"output {output}, {status.level_V:g} V, limit {status.compliance_A:g} A, "
            f"{_queue_summary(smu)}")


def controller_summary(controller: ArrayController) -> str:
    """Tiles, address, routing and queued errors."""
    tile_count = controller.tile_count
    status = read_controller_status(controller)
    return (f"{tile_count} tiles, tile {status.tile} row {status.row} col {status.column}, "
            f"routing {'on' if status.routed else 'off'}, {_queue_summary(controller)}")


def _queue_summary(driver: Any) -> str:
    errors = driver.check_errors()
    if not errors:
        return "no errors"
    return "errors: " + "; ".join(describe_error(error) for error in errors)
