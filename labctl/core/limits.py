"""Absolute ceilings of the probe station: what no station file, setting or script may exceed.

They live in code, in this one place, because they protect the dies, not a bench's habits: a
station TOML may only tighten them (``labctl.station.config`` refuses a value above a ceiling),
and the drivers enforce them even when no station limit was handed to them. Each ceiling carries
its reason; docs/reliability.md ("Ceilings and interlocks") explains them for the operator.

The values assume the dies this station probes: 1T-1MTJ crossbars whose junctions have a ~1 nm
MgO barrier and whose access transistors are core (1.2 V) devices.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ceiling:
    """One absolute bound: the station key it caps, its value and unit, and why."""

    key: str
    value: float
    unit: str
    reason: str


#: Read bias (read SMU level, inference row inputs), V. A read holds the bias for milliseconds
#: to seconds; the DC breakdown of a ~1 nm MgO barrier is ~1 V, so reads stay at half of it.
READ_VOLTAGE_CEILING_V = 0.5
#: Write-pulse amplitude, V. Nanosecond pulses switch at ~0.4-0.5 V; the pulsed breakdown of a
#: ~1 nm MgO barrier is ~1.5-2 V, so no pulse may reach its lower end.
WRITE_VOLTAGE_CEILING_V = 1.5
#: Word-line (gate) voltage, V: 1.5 x the access transistor's 1.2 V core supply, the usual
#: short-term overdrive bound of a thin gate oxide (beyond it the oxide wears out in hours).
GATE_VOLTAGE_CEILING_V = 1.8
#: SMU current limit (compliance), A: twice the largest legitimate current (a 196-row bit line
#: summed at the read ceiling, ~25 mA); it bounds what a shorted barrier, a gate short or a
#: misrouted line can pass through the array's wires and the probe tips.
COMPLIANCE_CURRENT_CEILING_A = 0.05
#: Write-pulse width range, s: 1 ns is the controller's shortest pulse; beyond 1 us a pulse gains
#: nothing in switching probability and only spends the barrier's breakdown (TDDB) budget.
WRITE_WIDTH_RANGE_s = (1e-9, 1e-6)
#: Largest level an SMU driver accepts whatever its role (the gate SMU needs the most); the
#: station hands each SMU its own, tighter role limit.
SMU_VOLTAGE_CEILING_V = max(READ_VOLTAGE_CEILING_V, GATE_VOLTAGE_CEILING_V)

#: Station-file keys under ``[limits]`` and the ceiling each may not exceed.
CEILINGS: dict[str, Ceiling] = {
    c.key: c
    for c in (
        Ceiling("max_read_voltage_V", READ_VOLTAGE_CEILING_V, "V",
                "half the ~1 V DC breakdown of the MTJ's MgO barrier"),
        Ceiling("max_write_voltage_V", WRITE_VOLTAGE_CEILING_V, "V",
                "below the ~1.5-2 V pulsed breakdown of the MTJ's MgO barrier"),
        Ceiling("max_gate_voltage_V", GATE_VOLTAGE_CEILING_V, "V",
                "1.5 x the access transistor's 1.2 V core supply: its gate-oxide rating"),
        Ceiling("compliance_current_A", COMPLIANCE_CURRENT_CEILING_A, "A",
                "twice a full bit line's read current: protects the array's wires and probes"),
        Ceiling("write_width_s", WRITE_WIDTH_RANGE_s[1], "s",
                "longer pulses only spend the MTJ barrier's breakdown budget"),
    )
}


def tightest(limit: float | None, ceiling: float) -> float:
    """The bound actually enforced: the station's ``limit`` when set, never above ``ceiling``."""
    return ceiling if limit is None else min(limit, ceiling)
