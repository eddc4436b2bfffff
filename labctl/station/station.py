"""A connected probe station: its four instruments with the station's limits applied.

The station only knows VISA resource strings; whether a simulator or a real bench answers is
invisible here. It ties together the modules that each do one job: :mod:`connection` (open,
identify, reconnect), :mod:`limits`, :mod:`bias`, :mod:`safe_state` and :mod:`status`; the wafer
file's record of it is :mod:`snapshot`. It also recovers from what a night of measurements brings
(:meth:`Station.recover`): connections that dropped or timed out are reopened, an instrument
that restarted is noticed (its connection dropped, it no longer identifies, or its settings
changed) and the bias is re-applied before the next measurement.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from pymeasure.instruments import Instrument

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.velox import LabctlVelox
from labctl.core.errors import LabctlError
from labctl.core.roles import Role
from labctl.station.bias import Bias, apply_bias, bias_intact
from labctl.station.config import Limits, StationConfig
from labctl.station.connection import CONNECT_ATTEMPTS, Identities, close_all, open_drivers
from labctl.station.limits import apply_limits, install_interlocks
from labctl.station.read_channels import ReadChannels
from labctl.station.safe_state import (
    SAFE_STATE_ATTEMPTS,
    SafeStateReport,
    bring_to_safe_state,
)
from labctl.station.status import station_status

__all__ = ["Bias", "Station"]

log = logging.getLogger(__name__)


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
        read_channels: ReadChannels | None = None,
    ) -> None:
        self.config = config
        #: Extra read channels (``read_smu_2`` ...), sensing beside ``read_smu``.
        self.read_channels = read_channels or ReadChannels((), config.limits)
        self.prober = prober
        self.read_smu = read_smu
        self.gate_smu = gate_smu
        self.controller = controller
        apply_limits(config.limits, read_smu, gate_smu, controller)
        install_interlocks(self.instruments().values())
        self._bias: Bias | None = None
        self._tile_shapes: dict[int, tuple[int, int]] = {}
        self._tile_count: int | None = None
        self._identities = Identities(self.instruments())

    @classmethod
    def connect(cls, config: StationConfig, attempts: int = 1) -> Station:
        """Open every instrument of ``config`` and check that each identifies itself.

        ``attempts`` > 1 reopens an instrument that does not identify (a refused or dropped
        connection) up to that many times. Raises :class:`InstrumentError` naming the role and
        resource of the first instrument that cannot be opened or does not answer in time;
        nothing stays open then.
        """
        opened = open_drivers(config)
        try:
            station = cls(
                config,
                prober=_as(LabctlVelox, opened[Role.PROBER]),
                read_smu=_as(LabctlKeithley2450, opened[Role.READ_SMU]),
                gate_smu=_as(LabctlKeithley2450, opened[Role.GATE_SMU]),
                controller=_as(ArrayController, opened[Role.CONTROLLER]),
            )
            for role in station.instruments():
                station._identities.identify_with_reconnects(role, attempts)
            station.read_channels = ReadChannels.open(config)
        except BaseException:
            close_all(opened)
            raise
        return station

    @property
    def sense_channels(self) -> tuple[LabctlKeithley2450, ...]:
        """Every read channel in channel order: ``read_smu``, then ``read_smu_2`` ..."""
        return (self.read_smu, *self.read_channels.drivers)

    @property
    def limits(self) -> Limits:
        """The station's operating points and hard limits."""
        return self.config.limits

    @property
    def name(self) -> str:
        return self.config.name

    def instruments(self) -> dict[Role, Instrument]:
        """Role -> driver, in the order prober, read_smu, gate_smu, controller."""
        return {
            Role.PROBER: self.prober,
            Role.READ_SMU: self.read_smu,
            Role.GATE_SMU: self.gate_smu,
            Role.CONTROLLER: self.controller,
        }

    def identify(self) -> dict[Role, str]:
        """Role -> identification string (``*IDN?``) of each instrument, each read twice alike
        (a garbled identification would make every later check fail)."""
        return self._identities.identify()

    @property
    def identities(self) -> dict[Role, str]:
        """Role -> identification verified when connecting (or reconnecting); no I/O."""
        return self._identities.as_dict()

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
        self._bias = None
        apply_bias(wanted, self.limits, self.read_smu, self.gate_smu)
        self.read_channels.apply_bias(wanted, self.limits)
        self._bias = wanted

    def bias_intact(self) -> bool:
        """Whether both SMUs still source the applied bias (output on, level, current limit):
        the settings check that notices an instrument that restarted without dropping its
        connection. False when no bias is applied or an SMU does not answer clearly."""
        bias = self._bias
        if bias is None:
            return False
        return bias_intact(bias, self.limits, self.read_smu, self.gate_smu)

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
        for role in self.instruments():
            if self._identities.connection_sound(role):
                continue
            self.reconnect(role)
            done.append(f"reconnected {role}")
        if self._bias is not None and not self.bias_intact():
            self._bias = None
            done.append("bias lost: re-applied before the next measurement")
        if done:
            log.warning("recovery: %s", "; ".join(done))
        return done

    def reconnect(self, role: Role, attempts: int = CONNECT_ATTEMPTS) -> None:
        """Reopen ``role``'s connection and check it is the same instrument (``*IDN?``).

        Whatever the driver believed about the instrument's settings is forgotten: it may have
        restarted. InstrumentError after ``attempts`` failed tries, or at once if another
        instrument answers.
        """
        self._identities.identify_with_reconnects(role, attempts, reopen_first=True)
        reset = getattr(self.instruments()[role], "reset_interlock_state", None)
        if reset is not None:
            reset()
        if role in (Role.READ_SMU, Role.GATE_SMU):
            self._bias = None

    def status(self) -> dict[Role, str]:
        """Role -> a one-line state summary; a failing query shows as ``error: ...``."""
        return station_status(self.prober, self.read_smu, self.gate_smu, self.controller)

    def safe_state(self, attempts: int = SAFE_STATE_ATTEMPTS) -> SafeStateReport:
        """Bring every instrument to its safe state (see :mod:`labctl.station.safe_state`) and
        return what the read-back found; safe to call any number of times. Forgets the bias
        first."""
        self._bias = None
        try:
            return bring_to_safe_state(self.prober, self.read_smu, self.gate_smu,
                                       self.controller, attempts)
        finally:
            self.read_channels.safe_state()

    def close(self) -> None:
        """Close every connection (no commands are sent)."""
        close_all(self.instruments())
        self.read_channels.close()

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


def _as(cls: type[Any], driver: Instrument) -> Any:
    if not isinstance(driver, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(driver).__name__}")
    return driver
