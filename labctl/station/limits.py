"""The station's hard limits, handed to the drivers that enforce them.

Each driver refuses a setting above its ``max_`` value (and never accepts more than the
ceilings of :mod:`labctl.core.limits`, which the station file was checked against) and any
command off its allow-list; the transport runs the same driver's check on every message, so a
command written to the adapter directly is checked as well.
"""

from __future__ import annotations

from collections.abc import Iterable

from pymeasure.instruments import Instrument

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from labctl.station.config import Limits
from labctl.station.transport import RoleAdapter


def apply_limits(
    limits: Limits,
    read_smu: LabctlKeithley2450,
    gate_smu: LabctlKeithley2450,
    controller: ArrayController,
) -> None:
    """Give each driver the station's maximum voltages and current limit."""
    read_smu.max_source_voltage_V = limits.max_read_voltage_V
    gate_smu.max_source_voltage_V = limits.max_gate_voltage_V
    controller.max_write_voltage_V = limits.max_write_voltage_V
    controller.max_input_voltage_V = limits.max_read_voltage_V
    read_smu.max_current_limit_A = limits.compliance_current_A
    gate_smu.max_current_limit_A = limits.compliance_current_A


def install_interlocks(drivers: Iterable[Instrument]) -> None:
    """Defence in depth: make each station transport run its driver's interlock on every
    message, including ones written to the adapter directly."""
    for driver in drivers:
        if isinstance(driver.adapter, RoleAdapter):
            driver.adapter.interlock = getattr(driver, "check_command", None)
