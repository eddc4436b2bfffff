"""The station's connections: open each instrument on its own transport, make sure it is the
instrument the station expects (``*IDN?``), and reopen a connection that failed.

A connection is trusted only while the instrument identifies as it did when first connected: an
instrument that restarted, or another one behind the same resource, is noticed here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from pymeasure.instruments import Instrument

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.terminations import with_line_terminations
from drivers.velox import LabctlVelox
from labctl.core.errors import InstrumentError, LabctlError
from labctl.core.roles import Role
from labctl.station.config import InstrumentConfig, StationConfig
from labctl.station.limits import install_interlocks
from labctl.station.transport import RoleAdapter
from labctl.station.visa_errors import open_kwargs

log = logging.getLogger(__name__)

#: Attempts to (re)open one instrument's connection and identify it before giving up.
CONNECT_ATTEMPTS = 4
#: Pause before the k-th further attempt: RECONNECT_BACKOFF_s * 2**(k-1) (s).
RECONNECT_BACKOFF_s = 0.05
#: Most *IDN? queries spent on reading one identification twice alike.
_IDN_ASKS = 6

#: Driver name in a station file -> driver class.
DRIVER_CLASSES: dict[str, type[Instrument]] = {
    "velox": LabctlVelox,
    "keithley2450": LabctlKeithley2450,
    "array_controller": ArrayController,
}


def open_drivers(config: StationConfig) -> dict[Role, Instrument]:
    """Role -> driver on a fresh :class:`RoleAdapter`, for every instrument of ``config``.

    Nothing stays open when one of them cannot be opened (the error names its role and resource).
    """
    opened: dict[Role, Instrument] = {}
    try:
        for role, instrument in config.instruments.items():
            adapter = RoleAdapter(
                role,
                instrument.resource,
                config.visa_library,
                **open_kwargs(instrument.resource, with_line_terminations(
                    {"timeout": round(instrument.timeout_s * 1000)})),
            )
            opened[role] = DRIVER_CLASSES[instrument.driver](adapter)
    except BaseException:
        close_all(opened)
        raise
    return opened


def probe_instrument(config: StationConfig, instrument: InstrumentConfig) -> str:
    """Open ``instrument`` of ``config`` on its own (interlocks armed), identify it and close it:
    its identification, or a LabctlError saying why not (``labctl station check`` reports every
    instrument this way, so one failure does not hide the others)."""
    adapter = RoleAdapter(
        instrument.role, instrument.resource, config.visa_library, key=instrument.key,
        **open_kwargs(instrument.resource, with_line_terminations(
            {"timeout": round(instrument.timeout_s * 1000)})),
    )
    try:
        driver = DRIVER_CLASSES[instrument.driver](adapter)
        install_interlocks([driver])
        return verified_identity(driver)
    finally:
        try:
            adapter.close()
        except Exception as exc:  # closing is best effort; the connection may already be gone
            log.debug("closing %s: %s", instrument.key, exc)


class Identities:
    """What each role's instrument identified as, and the checks that compare against it."""

    def __init__(self, drivers: Mapping[Role, Instrument]) -> None:
        self._drivers = drivers
        self._idn: dict[Role, str] = {}

    def as_dict(self) -> dict[Role, str]:
        """Role -> identification verified when connecting (or reconnecting); no I/O."""
        return dict(self._idn)

    def identify(self) -> dict[Role, str]:
        """Ask every instrument again; each identification read twice alike."""
        for role, driver in self._drivers.items():
            self._idn[role] = verified_identity(driver)
        return dict(self._idn)

    def identify_with_reconnects(self, role: Role, attempts: int,
                                 reopen_first: bool = False) -> None:
        """Identify ``role``, reopening its connection between tries (and before the first with
        ``reopen_first``). InstrumentError after ``attempts`` failed tries, or at once if the
        instrument identifies as another one than before."""
        driver = self._drivers[role]
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
                identity = verified_identity(driver)
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

    def connection_sound(self, role: Role) -> bool:
        """Drain late replies and check the instrument still identifies as before."""
        driver = self._drivers[role]
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


def verified_identity(driver: Instrument) -> str:
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


def close_all(drivers: Mapping[Role, Instrument]) -> None:
    """Close every connection (no commands are sent); best effort."""
    for driver in drivers.values():
        try:
            driver.adapter.close()
        except Exception as exc:  # closing is best effort; the connection may already be gone
            log.debug("closing %s: %s", driver.name, exc)
