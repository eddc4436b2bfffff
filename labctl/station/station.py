"""A connected probe station: its four instruments, its limits and its safe state.

The station only knows VISA resource strings; whether a simulator or a real bench answers is
invisible here. It also recovers from what a night of measurements brings
(:meth:`Station.recover`): connections that dropped or timed out are reopened, an instrument
that restarted is noticed (its connection dropped, it no longer identifies, or its settings
changed) and the bias is re-applied before the next measurement.
"""

from __future__ import annotations

import logging
import math
import time
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
from labctl.core.errors import InstrumentError, LabctlError
from labctl.station.config import Limits, StationConfig
from labctl.station.transport import RoleAdapter

log = logging.getLogger(__name__)

#: Attempts to (re)open one instrument's connection and identify it before giving up.
CONNECT_ATTEMPTS = 4
#: Pause before the k-th further attempt: RECONNECT_BACKOFF_s * 2**(k-1) (s).
RECONNECT_BACKOFF_s = 0.05
#: Attempts of each safe-state step (a transient failure must not leave an output on).
SAFE_STATE_ATTEMPTS = 3
#: Most *IDN? queries spent on reading one identification twice alike.
_IDN_ASKS = 6

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
        read_smu.max_current_limit_A = limits.compliance_current_A
        gate_smu.max_current_limit_A = limits.compliance_current_A
        for driver in self.instruments().values():
            # Defence in depth: the transport runs the driver's interlock on every message,
            # including ones written to the adapter directly.
            if isinstance(driver.adapter, RoleAdapter):
                driver.adapter.interlock = getattr(driver, "check_command", None)
        self._bias: Bias | None = None
        self._tile_shapes: dict[int, tuple[int, int]] = {}
        self._tile_count: int | None = None
        self._idn: dict[str, str] = {}

    @classmethod
    def connect(cls, config: StationConfig, attempts: int = 1) -> Station:
        """Open every instrument of ``config`` and check that each identifies itself.

        ``attempts`` > 1 reopens an instrument that does not identify (a refused or dropped
        connection) up to that many times. Raises :class:`InstrumentError` naming the role and
        resource of the first instrument that cannot be opened or does not answer in time;
        nothing stays open then.
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
            for role in station.instruments():
                station._identify_with_reconnects(role, attempts)
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
        """Role -> identification string (``*IDN?``) of each instrument, each read twice alike
        (a garbled identification would make every later check fail)."""
        for role, driver in self.instruments().items():
            self._idn[role] = _verified_identity(driver)
        return dict(self._idn)

    @property
    def identities(self) -> dict[str, str]:
        """Role -> identification verified when connecting (or reconnecting); no I/O."""
        return dict(self._idn)

    def tile_count(self) -> int:
        """Number of tiles, asked from the controller once (verified) and then remembered."""
        if self._tile_count is None:
            self._tile_count = self.controller.verified_tile_count()
        return self._tile_count

    def tile_shape(self, tile: int) -> tuple[int, int]:
        """(rows, columns) of a tile, asked from the controller once (verified) and then
        remembered."""
        if tile not in self._tile_shapes:
            self._tile_shapes[tile] = self.controller.verified_geometry(tile)
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

    def bias_intact(self) -> bool:
        """Whether both SMUs still source the applied bias (output on, level, current limit):
        the settings check that notices an instrument that restarted without dropping its
        connection. False when no bias is applied or an SMU does not answer clearly."""
        bias = self._bias
        if bias is None:
            return False
        limit_A = self.limits.compliance_current_A
        for smu, level_V in ((self.gate_smu, self.limits.gate_voltage_V),
                             (self.read_smu, bias.read_voltage_V)):
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

    def forget_bias(self) -> None:
        """Make the next :meth:`ensure_bias` configure both SMUs again."""
        self._bias = None

    def recover(self) -> list[str]:
        """Bring every connection back to a known state before an operation is retried.

        Late replies are drained; an instrument whose connection failed, closed, or that no
        longer identifies as at connection time is reconnected (and, for an SMU, the bias is
        forgotten, for the controller the pulse amplitude); if a bias is applied, both SMUs'
        settings are checked and the bias forgotten if they changed. ``ensure_bias`` (which
        every read and write calls) then re-applies it before anything is measured. Returns
        what was done; InstrumentError if an instrument cannot be reconnected.
        """
        done: list[str] = []
        for role, driver in self.instruments().items():
            if self._connection_sound(role, driver):
                continue
            self.reconnect(role)
            done.append(f"reconnected {role}")
        if self._bias is not None and not self.bias_intact():
            self._bias = None
            done.append("bias lost: re-applied before the next measurement")
        if done:
            log.warning("recovery: %s", "; ".join(done))
        return done

    def reconnect(self, role: str, attempts: int = CONNECT_ATTEMPTS) -> None:
        """Reopen ``role``'s connection and check it is the same instrument (``*IDN?``).

        Whatever the driver believed about the instrument's settings is forgotten: it may have
        restarted. InstrumentError after ``attempts`` failed tries, or at once if another
        instrument answers.
        """
        self._identify_with_reconnects(role, attempts, reopen_first=True)
        driver = self.instruments()[role]
        reset = getattr(driver, "reset_interlock_state", None)
        if reset is not None:
            reset()
        if role in ("read_smu", "gate_smu"):
            self._bias = None

    def _identify_with_reconnects(self, role: str, attempts: int,
                                  reopen_first: bool = False) -> None:
        driver = self.instruments()[role]
        adapter = driver.adapter
        expected = self._idn.get(role)
        last: LabctlError | None = None
        for attempt in range(1, max(1, attempts) + 1):
            try:
                if attempt > 1 or reopen_first:
                    if not hasattr(adapter, "reopen"):
                        raise InstrumentError(f"{role}: this connection cannot be reopened")
                    if attempt > 1:
                        time.sleep(RECONNECT_BACKOFF_s * 2 ** (attempt - 2))
                    adapter.reopen()
                identity = _verified_identity(driver)
            except LabctlError as exc:
                last = exc
                continue
            if expected is not None and identity != expected:
                raise InstrumentError(
                    f"{role}: after reconnecting, the instrument identifies as {identity!r}, "
                    f"not {expected!r}; check the station's cabling"
                )
            self._idn[role] = identity
            return
        assert last is not None
        raise last

    def _connection_sound(self, role: str, driver: Instrument) -> bool:
        """Drain late replies and check the instrument still identifies as before."""
        adapter = driver.adapter
        if getattr(adapter, "broken", False):
            return False
        try:
            adapter.flush_read_buffer()
            identity = str(driver.ask("*IDN?")).strip()
        except (LabctlError, ConnectionError, OSError):
            return False
        expected = self._idn.setdefault(role, identity)
        return identity == expected

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

    def safe_state(self, attempts: int = SAFE_STATE_ATTEMPTS) -> None:
        """Bring every instrument to its safe state; safe to call any number of times.

        Read SMU and gate SMU to 0 V and output off, controller deselected, chuck to
        separation, in that order; each SMU's output and the controller's routing are then
        read back, so that a command lost with a dropped connection cannot leave an output on.
        An instrument whose sequence fails is taken through it again up to ``attempts`` times
        (on a fresh connection if the old one failed); every instrument is attempted even if an
        earlier one fails for good; failures are logged and raised together afterwards as one
        :class:`InstrumentError`.
        """
        self._bias = None
        groups: list[tuple[str, Instrument, list[tuple[str, Callable[[], Any]]]]] = []
        for role, smu in (("read_smu", self.read_smu), ("gate_smu", self.gate_smu)):
            groups.append((role, smu, [
                ("abort acquisition", smu.stop_buffer),
                ("0 V", _setter(smu, "source_voltage", 0.0)),
                ("output off", smu.disable_source),
                ("output off read back", _confirm(smu, "source_enabled", False)),
            ]))
        groups += [
            ("controller", self.controller, [
                ("deselect", self.controller.deselect),
                ("routing off read back", _confirm(self.controller, "routed", False)),
            ]),
            ("prober", self.prober, [("chuck to separation", self.prober.chuck.move_separation)]),
        ]
        failures: list[str] = []
        first: Exception | None = None
        for role, driver, steps in groups:
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


def _verified_identity(driver: Instrument) -> str:
    """``*IDN?`` asked until two consecutive replies agree (at most ``_IDN_ASKS`` times); an
    unreadable reply on a sound connection is asked again, a connection failure raises."""
    previous: str | None = None
    for _ in range(_IDN_ASKS):
        try:
            identity: str | None = str(driver.ask("*IDN?")).strip()
        except InstrumentError:
            if getattr(driver.adapter, "broken", True):
                raise
            identity = None
        if identity and identity == previous:
            return identity
        previous = identity
    raise InstrumentError(f"{driver.name}: identification garbled (replies differ)")


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


def _as(cls: type[Any], driver: Instrument) -> Any:
    if not isinstance(driver, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(driver).__name__}")
    return driver


def _close_quietly(driver: Instrument) -> None:
    try:
        driver.adapter.close()
    except Exception as exc:  # closing is best effort; the connection may already be gone
        log.debug("closing %s: %s", driver.name, exc)

