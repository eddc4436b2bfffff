"""A connected probe station: its four instruments, its limits and its safe state.

The station only knows VISA resource strings; whether a simulator or a real bench answers is
invisible here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pymeasure.instruments import Instrument

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.scpi import describe_error, raise_queued_errors
from drivers.terminations import with_line_terminations
from drivers.velox import CONTACT_TOLERANCE_um, LabctlVelox
from labctl.errors import InstrumentError, LabctlError
from labctl.station.config import Limits, StationConfig
from labctl.station.transport import RoleAdapter

log = logging.getLogger(__name__)

#: Driver name in a station file -> driver class.
DRIVER_CLASSES: dict[str, type[Instrument]] = {
    "velox": LabctlVelox,
    "keithley2450": LabctlKeithley2450,
    "array_controller": ArrayController,
}


@dataclass(frozen=True)
class Bias:
    """What the SMUs source while reads run (cached so batched reads do not reconfigure)."""

    nplc: float
    read_voltage_V: float


class Station:
    """The prober, the two SMUs and the array controller, with the station's limits applied.

    Use :meth:`connect` to open one from a :class:`StationConfig`; as a context manager its exit
    calls :meth:`safe_state` and then :meth:`close`.
    """

    def __init__(
        self,
        config: StationConfig,
        prober: LabctlVelox,
        read_smu: LabctlKeithley2450,
        gate_smu: LabctlKeithley2450,
        controller: ArrayController,
    ) -> None:
        self.config = config
        self.prober = prober
        self.read_smu = read_smu
        self.gate_smu = gate_smu
        self.controller = controller
        limits = config.limits
        read_smu.max_source_voltage_V = limits.max_read_voltage_V
        gate_smu.max_source_voltage_V = limits.max_gate_voltage_V
        controller.max_write_voltage_V = limits.max_write_voltage_V
        controller.max_input_voltage_V = limits.max_read_voltage_V
        self._bias: Bias | None = None
        self._tile_shapes: dict[int, tuple[int, int]] = {}

    @classmethod
    def connect(cls, config: StationConfig) -> Station:
        """Open every instrument of ``config`` and check that each identifies itself.

        Raises :class:`InstrumentError` naming the role and resource of the first instrument
        that cannot be opened or does not answer in time; nothing stays open then.
        """
        opened: dict[str, Instrument] = {}
        try:
            for role, instrument in config.instruments.items():
                adapter = RoleAdapter(
                    role,
                    instrument.resource,
                    config.visa_library,
                    **with_line_terminations({"timeout": round(instrument.timeout_s * 1000)}),
                )
                opened[role] = DRIVER_CLASSES[instrument.driver](adapter)
            station = cls(
                config,
                prober=_as(LabctlVelox, opened["prober"]),
                read_smu=_as(LabctlKeithley2450, opened["read_smu"]),
                gate_smu=_as(LabctlKeithley2450, opened["gate_smu"]),
                controller=_as(ArrayController, opened["controller"]),
            )
            station.identify()
        except BaseException:
            for driver in opened.values():
                _close_quietly(driver)
            raise
        return station

    @property
    def limits(self) -> Limits:
        """The station's operating points and hard limits."""
        return self.config.limits

    @property
    def name(self) -> str:
        return self.config.name

    def instruments(self) -> dict[str, Instrument]:
        """Role -> driver, in the order prober, read_smu, gate_smu, controller."""
        return {
            "prober": self.prober,
            "read_smu": self.read_smu,
            "gate_smu": self.gate_smu,
            "controller": self.controller,
        }

    def identify(self) -> dict[str, str]:
        """Role -> identification string (``*IDN?``) of each instrument."""
        return {role: str(driver.id).strip() for role, driver in self.instruments().items()}

    def tile_shape(self, tile: int) -> tuple[int, int]:
        """(rows, columns) of a tile, asked from the controller once and then remembered."""
        if tile not in self._tile_shapes:
            self._tile_shapes[tile] = self.controller.geometry(tile)
        return self._tile_shapes[tile]

    @property
    def bias(self) -> Bias | None:
        """The bias :meth:`ensure_bias` applied, or ``None`` (not biased, or safe state since)."""
        return self._bias

    def ensure_bias(self, nplc: float = 1.0, read_voltage_V: float | None = None) -> None:
        """Source the gate and read voltages with current limits and switch both outputs on.

        ``read_voltage_V`` defaults to the station's read voltage. Nothing is sent when the
        same bias is already applied; :meth:`safe_state` forgets it.
        """
        if read_voltage_V is None:
            read_voltage_V = self.limits.read_voltage_V
        wanted = Bias(nplc, read_voltage_V)
        if self._bias == wanted:
            return
        limits = self.limits
        self._bias = None
        for smu, voltage_V in (
            (self.gate_smu, limits.gate_voltage_V),
            (self.read_smu, wanted.read_voltage_V),
        ):
            smu.configure_voltage_source(voltage_V, limits.compliance_current_A, nplc)
            smu.enable_source()
        raise_queued_errors(self.gate_smu, "gate SMU bias")
        raise_queued_errors(self.read_smu, "read SMU bias")
        self._bias = wanted

    def status(self) -> dict[str, str]:
        """Role -> a one-line state summary; a failing query shows as ``error: ...``."""
        reports: dict[str, Callable[[], str]] = {
            "prober": self._prober_status,
            "read_smu": lambda: _smu_status(self.read_smu),
            "gate_smu": lambda: _smu_status(self.gate_smu),
            "controller": self._controller_status,
        }
        result = {}
        for role, report in reports.items():
            try:
                result[role] = report()
            except (LabctlError, ConnectionError, ValueError) as exc:
                result[role] = f"error: {exc}"
        return result

    def safe_state(self) -> None:
        """Bring every instrument to its safe state; safe to call any number of times.

        Read SMU and gate SMU to 0 V and output off, controller deselected, chuck to
        separation. Every step is attempted even if an earlier one fails; failures are logged
        and raised together afterwards as one :class:`InstrumentError`.
        """
        self._bias = None
        steps: list[tuple[str, Callable[[], Any]]] = []
        for role, smu in (("read_smu", self.read_smu), ("gate_smu", self.gate_smu)):
            steps += [
                (f"{role}: abort acquisition", smu.stop_buffer),
                (f"{role}: 0 V", _setter(smu, "source_voltage", 0.0)),
                (f"{role}: output off", smu.disable_source),
            ]
        steps += [
            ("controller: deselect", self.controller.deselect),
            ("prober: chuck to separation", self.prober.chuck.move_separation),
        ]
        failures: list[str] = []
        first: Exception | None = None
        for label, step in steps:
            try:
                step()
            except Exception as exc:  # every step must be tried, whatever the previous did
                log.error("safe state: %s failed: %s", label, exc)
                failures.append(f"{label}: {exc}")
                first = first or exc
        if failures:
            raise InstrumentError("safe state incomplete: " + "; ".join(failures)) from first

    def close(self) -> None:
        """Close every connection (no commands are sent)."""
        for driver in self.instruments().values():
            _close_quietly(driver)

    def __enter__(self) -> Station:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.safe_state()
        except LabctlError:
            if exc_type is None:
                raise
            log.exception("safe state after an error failed as well")
        finally:
            self.close()

    def _prober_status(self) -> str:
        z_um = self.prober.chuck_position[2]
        height = "contact" if abs(z_um) <= CONTACT_TOLERANCE_um else "separated"
        try:
            col, row = self.prober.map_position
            where = f"die ({col}, {row})"
        except (LabctlError, ConnectionError) as exc:
            where = f"no map position ({exc})"
        return f"{where}, chuck {height} (z {z_um:g} um)"

    def _controller_status(self) -> str:
        ctrl = self.controller
        summary = (
            f"{ctrl.tile_count} tiles, tile {ctrl.tile} row {ctrl.row} col {ctrl.column}, "
            f"routing {'on' if ctrl.routed else 'off'}"
        )
        return f"{summary}, {_queue_summary(ctrl)}"


def _smu_status(smu: LabctlKeithley2450) -> str:
    output = "on" if smu.source_enabled else "off"
    level_V = float(smu.source_voltage)
    limit_A = float(smu.compliance_current)
    return f"output {output}, {level_V:g} V, limit {limit_A:g} A, {_queue_summary(smu)}"


def _queue_summary(driver: Any) -> str:
    errors = driver.check_errors()
    if not errors:
        return "no errors"
    return "errors: " + "; ".join(describe_error(error) for error in errors)


def _setter(driver: Instrument, name: str, value: float) -> Callable[[], None]:
    def step() -> None:
        setattr(driver, name, value)

    return step


def _as(cls: type[Any], driver: Instrument) -> Any:
    if not isinstance(driver, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(driver).__name__}")
    return driver


def _close_quietly(driver: Instrument) -> None:
    try:
        driver.adapter.close()
    except Exception as exc:  # closing is best effort; the connection may already be gone
        log.debug("closing %s: %s", driver.name, exc)

