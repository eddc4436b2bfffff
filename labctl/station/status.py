"""A one-line state summary of each instrument, for the operator (``labctl station status``).

Only queries are sent, each role on its own: an instrument that does not answer shows as
``error: ...`` without hiding the others. Reading the error queues empties them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.scpi import describe_error
from drivers.velox import CONTACT_TOLERANCE_um, LabctlVelox
from labctl.core.errors import LabctlError
from labctl.core.roles import Role


def station_status(
    prober: LabctlVelox,
    read_smu: LabctlKeithley2450,
    gate_smu: LabctlKeithley2450,
    controller: ArrayController,
) -> dict[Role, str]:
    """Role -> a one-line state summary; a failing query shows as ``error: ...``."""
    reports: dict[Role, Callable[[], str]] = {
        Role.PROBER: lambda: prober_status(prober),
        Role.READ_SMU: lambda: smu_status(read_smu),
        Role.GATE_SMU: lambda: smu_status(gate_smu),
        Role.CONTROLLER: lambda: controller_status(controller),
    }
    result = {}
    for role, report in reports.items():
        try:
            result[role] = report()
        except (LabctlError, ConnectionError, ValueError) as exc:
            result[role] = f"error: {exc}"
    return result


def prober_status(prober: LabctlVelox) -> str:
    """Die under the probes (if the prober knows) and chuck height."""
    z_um = prober.chuck_position[2]
    height = "contact" if abs(z_um) <= CONTACT_TOLERANCE_um else "separated"
    try:
        col, row = prober.map_position
        where = f"die ({col}, {row})"
    except (LabctlError, ConnectionError) as exc:
        where = f"no map position ({exc})"
    return f"{where}, chuck {height} (z {z_um:g} um)"


def smu_status(smu: LabctlKeithley2450) -> str:
    """Output state, source level, current limit and queued errors."""
    output = "on" if smu.source_enabled else "off"
    level_V = float(smu.source_voltage)
    limit_A = float(smu.compliance_current)
    return f"output {output}, {level_V:g} V, limit {limit_A:g} A, {_queue_summary(smu)}"


def controller_status(controller: ArrayController) -> str:
    """Tiles, address, routing and queued errors."""
    summary = (
        f"{controller.tile_count} tiles, tile {controller.tile} row {controller.row} "
        f"col {controller.column}, routing {'on' if controller.routed else 'off'}"
    )
    return f"{summary}, {_queue_summary(controller)}"


def _queue_summary(driver: Any) -> str:
    errors = driver.check_errors()
    if not errors:
        return "no errors"
    return "errors: " + "; ".join(describe_error(error) for error in errors)
