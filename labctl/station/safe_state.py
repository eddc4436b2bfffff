"""The station's safe state: no output on, nothing routed, probes lifted, whatever else failed.

Read SMU and gate SMU go to 0 V with the output off, the controller is deselected, the chuck goes to
separation, in that order; each SMU's output and the controller's routing are read back, so that
a command lost with a dropped connection cannot leave an output on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pymeasure.instruments import Instrument

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.velox import LabctlVelox
from labctl.core.errors import InstrumentError
from labctl.core.roles import Role

log = logging.getLogger(__name__)

#: Attempts of each safe-state step (a transient failure must not leave an output on).
SAFE_STATE_ATTEMPTS = 3

#: One instrument's safe-state sequence: its role, driver and (label, step) pairs.
_Steps = tuple[Role, Instrument, list[tuple[str, Callable[[], Any]]]]


def bring_to_safe_state(
    prober: LabctlVelox,
    read_smu: LabctlKeithley2450,
    gate_smu: LabctlKeithley2450,
    controller: ArrayController,
    attempts: int = SAFE_STATE_ATTEMPTS,
) -> None:
    """Take every instrument through its safe-state sequence; safe to call any number of times.

    An instrument whose sequence fails is taken through it again up to ``attempts`` times (on a
    fresh connection if the old one failed); every instrument is attempted even if an earlier one
    fails for good; failures are logged and raised together afterwards as one InstrumentError.
    """
    failures: list[str] = []
    first: Exception | None = None
    for role, driver, steps in _sequences(prober, read_smu, gate_smu, controller):
        for attempt in range(1, max(1, attempts) + 1):
            label = steps[0][0]
            try:
                if getattr(driver.adapter, "broken", False):
                    driver.adapter.reopen()
                for current, step in steps:
                    label = current
                    step()
                break
            except Exception as exc:  # every instrument must be tried, whatever happened
                if attempt < attempts:
                    log.warning("safe state: %s: %s failed (attempt %d): %s", role, label,
                                attempt, exc)
                    continue
                log.error("safe state: %s: %s failed: %s", role, label, exc)
                failures.append(f"{role}: {label}: {exc}")
                first = first or exc
    if failures:
        raise InstrumentError("safe state incomplete: " + "; ".join(failures)) from first


def _sequences(
    prober: LabctlVelox,
    read_smu: LabctlKeithley2450,
    gate_smu: LabctlKeithley2450,
    controller: ArrayController,
) -> list[_Steps]:
    """Every instrument's sequence, in the order they are brought to safety."""
    sequences: list[_Steps] = []
    for role, smu in ((Role.READ_SMU, read_smu), (Role.GATE_SMU, gate_smu)):
        sequences.append((role, smu, [
            ("abort acquisition", smu.stop_buffer),
            ("0 V", _setter(smu, "source_voltage", 0.0)),
            ("output off", smu.disable_source),
            ("output off read back", _confirm(smu, "source_enabled", False)),
        ]))
    sequences += [
        (Role.CONTROLLER, controller, [
            ("deselect", controller.deselect),
            ("routing off read back", _confirm(controller, "routed", False)),
        ]),
        (Role.PROBER, prober, [("chuck to separation", prober.chuck.move_separation)]),
    ]
    return sequences


def _confirm(driver: Instrument, name: str, expected: Any) -> Callable[[], None]:
    """A step that reads property ``name`` back and fails unless it is ``expected``."""

    def step() -> None:
        value = getattr(driver, name)
        if value != expected:
            raise InstrumentError(f"{driver.name}: {name} reads {value!r}, not {expected!r}")

    return step


def _setter(driver: Instrument, name: str, value: float) -> Callable[[], None]:
    def step() -> None:
        setattr(driver, name, value)

    return step
