"""The read bias: what both SMUs source while reads run, applied and checked.

Applying it is cached by the station (batched reads must not reconfigure the SMUs); checking it is
how recovery notices an SMU that restarted without dropping its connection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.keithley2450 import LabctlKeithley2450
from drivers.scpi import raise_queued_errors
from labctl.core.errors import LabctlError
from labctl.station.config import Limits


@dataclass(frozen=True)
class Bias:
    """What the SMUs source while reads run (cached so batched reads do not reconfigure)."""

    nplc: float
    read_voltage_V: float


def apply_bias(
    bias: Bias, limits: Limits, read_smu: LabctlKeithley2450, gate_smu: LabctlKeithley2450
) -> None:
    """Source the gate voltage and ``bias``'s read voltage with the station's current limit and
    switch both outputs on (gate first); queued instrument errors raise."""
    for smu, voltage_V in (
        (gate_smu, limits.gate_voltage_V),
        (read_smu, bias.read_voltage_V),
    ):
        smu.configure_voltage_source(voltage_V, limits.compliance_current_A, bias.nplc)
        smu.enable_source()
    raise_queued_errors(gate_smu, "gate SMU bias")
    raise_queued_errors(read_smu, "read SMU bias")


def bias_intact(
    bias: Bias, limits: Limits, read_smu: LabctlKeithley2450, gate_smu: LabctlKeithley2450
) -> bool:
    """Whether both SMUs still source ``bias`` (output on, level, current limit). False when an
    SMU does not answer clearly."""
    limit_A = limits.compliance_current_A
    for smu, level_V in ((gate_smu, limits.gate_voltage_V), (read_smu, bias.read_voltage_V)):
        try:
            parts = str(smu.ask(":OUTP?;:SOUR:VOLT?;:SOUR:VOLT:ILIM?")).strip().split(";")
            output, level, limit = parts[0].strip(), float(parts[1]), float(parts[2])
        except (LabctlError, ValueError, IndexError):
            return False
        if output != "1" or not math.isclose(level, level_V, rel_tol=1e-5, abs_tol=1e-9):
            return False
        if not math.isclose(limit, limit_A, rel_tol=1e-5):
            return False
    return True
