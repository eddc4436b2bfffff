"""The station's safe state: no output on, nothing routed, probes lifted, whatever else failed.

Read SMU and gate SMU go to 0 V with the output off, the controller is deselected, the chuck goes
to separation, in that order. Every instrument's state is then read back (output and level of
each SMU, the controller's routing, the chuck height), so that a command lost with a dropped
connection cannot leave an output on, and the result is a :class:`SafeStateReport` that says what
was read. Late replies are discarded before each instrument's sequence (an interrupted query's
reply must not be read as the answer to ``OUTPUT?``), and the whole sequence runs with stop
signals deferred (:mod:`labctl.station.deferred`): a second Ctrl-C waits until it is done.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymeasure.instruments import Instrument

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.velox import CONTACT_TOLERANCE_um, LabctlVelox
from labctl.core.errors import InstrumentError
from labctl.core.roles import Role
from labctl.station.deferred import deferred_signals

log = logging.getLogger(__name__)

#: Attempts of each safe-state step (a transient failure must not leave an output on).
SAFE_STATE_ATTEMPTS = 3
#: A source level read back within this of 0 V counts as 0 V (the reply's rounding).
ZERO_LEVEL_TOLERANCE_V = 1e-9

#: One instrument's safe-state sequence: its role, driver and (label, step) pairs.
_Steps = tuple[Role, Instrument, list[tuple[str, Callable[[], Any]]]]


@dataclass
class SafeStateReport:
    """What the read-back after the safe-state commands found, role by role."""

    readings: dict[Role, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the log: ``read_smu output off at 0 V, ...``."""
        return ", ".join(f"{role} {text}" for role, text in self.readings.items())


def bring_to_safe_state(
    prober: LabctlVelox,
    read_smu: LabctlKeithley2450,
    gate_smu: LabctlKeithley2450,
    controller: ArrayController,
    attempts: int = SAFE_STATE_ATTEMPTS,
) -> SafeStateReport:
    """Take every instrument through its safe-state sequence; safe to call any number of times.

    An instrument whose sequence fails is taken through it again up to ``attempts`` times (on a
    fresh connection if the old one failed); every instrument is attempted even if an earlier one
    fails for good; failures are logged and raised together afterwards as one InstrumentError.
    Returns what was read back (every instrument confirmed safe).
    """
    report = SafeStateReport()
    with deferred_signals():
        failures, first = _run_sequences(
            _sequences(prober, read_smu, gate_smu, controller, report), attempts)
    if failures:
        raise InstrumentError("safe state incomplete: " + "; ".join(failures)) from first
    log.info("safe state confirmed by read-back: %s", report.describe())
    return report


def _run_sequences(sequences: list[_Steps], attempts: int) -> tuple[list[str], Exception | None]:
    failures: list[str] = []
    first: Exception | None = None
    for role, driver, steps in sequences:
        for attempt in range(1, max(1, attempts) + 1):
            label = steps[0][0]
            try:
                if getattr(driver.adapter, "broken", False):
                    driver.adapter.reopen()
                _discard_late_replies(driver)
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
    return failures, first


def _discard_late_replies(driver: Instrument) -> None:
    """Drop replies left by a query that was cut short (a signal, a timeout)."""
    flush = getattr(driver.adapter, "flush_read_buffer", None)
    if flush is not None:
        with contextlib.suppress(NotImplementedError):  # an adapter without a read buffer
            flush()


def _sequences(
    prober: LabctlVelox,
    read_smu: LabctlKeithley2450,
    gate_smu: LabctlKeithley2450,
    controller: ArrayController,
    report: SafeStateReport,
) -> list[_Steps]:
    """Every instrument's sequence, in the order they are brought to safety."""
    sequences: list[_Steps] = []
    for role, smu in ((Role.READ_SMU, read_smu), (Role.GATE_SMU, gate_smu)):
        sequences.append((role, smu, [
            ("abort acquisition", smu.stop_buffer),
            ("0 V", _setter(smu, "source_voltage", 0.0)),
            ("output off", smu.disable_source),
            ("output off read back", _confirm(smu, "source_enabled", False)),
            ("0 V read back", _confirm_zero_level(smu, role, report)),
        ]))
    sequences += [
        (Role.CONTROLLER, controller, [
            ("deselect", controller.deselect),
            ("routing off read back", _confirm(controller, "routed", False)),
            ("noted", lambda: report.readings.__setitem__(Role.CONTROLLER, "not routed")),
        ]),
        (Role.PROBER, prober, [
            ("chuck to separation", prober.chuck.move_separation),
            ("chuck height read back", _confirm_separated(prober, report)),
        ]),
    ]
    return sequences


def _confirm(driver: Instrument, name: str, expected: Any) -> Callable[[], None]:
    """A step that reads property ``name`` back and fails unless it is ``expected``."""

    def step() -> None:
        value = getattr(driver, name)
        if value != expected:
            raise InstrumentError(f"{driver.name}: {name} reads {value!r}, not {expected!r}")

    return step


def _confirm_zero_level(smu: LabctlKeithley2450, role: Role,
                        report: SafeStateReport) -> Callable[[], None]:
    def step() -> None:
        level_V = float(smu.source_voltage)
        if abs(level_V) > ZERO_LEVEL_TOLERANCE_V:
            raise InstrumentError(f"{smu.name}: source level reads {level_V:g} V, not 0 V")
        report.readings[role] = "output off at 0 V"

    return step


def _confirm_separated(prober: LabctlVelox, report: SafeStateReport) -> Callable[[], None]:
    def step() -> None:
        z_um = float(prober.chuck_position[2])
        if z_um > -CONTACT_TOLERANCE_um:
            raise InstrumentError(f"{prober.name}: chuck at z = {z_um:g} um, not separated")
        report.readings[Role.PROBER] = f"chuck separated (z = {z_um:g} um)"

    return step


def _setter(driver: Instrument, name: str, value: float) -> Callable[[], None]:
    def step() -> None:
        setattr(driver, name, value)

    return step
