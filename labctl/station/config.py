"""Station description files (TOML): instruments, VISA resources, timeouts and safety limits.

A station file is validated completely on load, so a typo surfaces as one ``ConfigError`` naming
the file, the key and the problem, not as a failure half-way through a wafer sweep.
"""

from __future__ import annotations

import math
import posixpath
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

from labctl.core.errors import ConfigError
from labctl.core.limits import CEILINGS, WRITE_WIDTH_RANGE_s
from labctl.core.resources import data_file
from labctl.core.roles import MAX_READ_CHANNELS, Role, parse_read_channel_key, read_channel_key

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Driver name -> what it drives; the station module maps names to classes.
DRIVER_NAMES = ("velox", "keithley2450", "array_controller")
#: Role -> the driver it must use.
ROLE_DRIVERS: dict[Role, str] = {
    Role.PROBER: "velox",
    Role.READ_SMU: "keithley2450",
    Role.GATE_SMU: "keithley2450",
    Role.CONTROLLER: "array_controller",
}
DEFAULT_VISA_LIBRARY = "@py"
#: pyvisa backends a station may name (``""``: pyvisa's default, the vendor's IVI VISA).
VISA_BACKENDS = ("py", "ivi", "sim")
#: File names of the vendor VISA libraries (NI-VISA, Keysight IO Libraries, R&S VISA): the
#: Windows VISA router and vendor DLLs and the Linux shared objects (any version suffix),
#: matched case-insensitively; on macOS only :data:`MACOS_VISA_FRAMEWORK`.
VENDOR_VISA_FILES = re.compile(
    r"^(visa(32|64)\.dll|rsvisa(32|64)\.dll|ktvisa32\.dll|agvisa32\.dll"
    r"|lib(visa|iovisa|rsvisa)\.so(\.\d+)*)$",
    re.IGNORECASE,
)
MACOS_VISA_FRAMEWORK = "/Library/Frameworks/VISA.framework/VISA"
#: Folders a vendor VISA library given as an absolute path may lie in (where the vendors'
#: installers put them); a library elsewhere could be anything.
VENDOR_VISA_FOLDERS = (
    "/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/local/vxipnp", "/opt/keysight",
    "/opt/rohde-schwarz", "/opt/rsvisa",
    "c:/windows/system32", "c:/windows/syswow64", "c:/program files/ivi foundation/visa",
    "c:/program files (x86)/ivi foundation/visa",
)
DEFAULT_TIMEOUT_s = 5.0
#: Mains frequencies a station may name (``[station] line_frequency_Hz``): one power-line cycle,
#: the SMUs' integration unit (NPLC), lasts 1 / line frequency.
LINE_FREQUENCIES_Hz = (50.0, 60.0)
DEFAULT_LINE_FREQUENCY_Hz = 50.0
#: The shipped description of the embedded simulated station (resources filled in at start).
SIM_STATION_FILE = data_file("stations/sim.toml")


@dataclass(frozen=True)
class Limits:
    """Operating points and hard limits; the drivers refuse anything above the ``max_`` values."""

    read_voltage_V: float
    max_read_voltage_V: float
    write_voltage_V: float
    max_write_voltage_V: float
    write_width_s: float
    compliance_current_A: float
    gate_voltage_V: float
    max_gate_voltage_V: float


@dataclass(frozen=True)
class InstrumentConfig:
    """One instrument of the station: its role, driver name, VISA resource and timeout."""

    role: Role
    driver: str
    resource: str
    timeout_s: float = DEFAULT_TIMEOUT_s
    #: Read channel (0-based) of a read SMU; extra channels are ``[instruments.read_smu_<n>]``.
    channel: int = 0

    @property
    def key(self) -> str:
        """The station-file key: the role, or ``read_smu_<n>`` for an extra read channel."""
        return read_channel_key(self.channel) if self.role is Role.READ_SMU else self.role.value


@dataclass(frozen=True)
class StationConfig:
    """A validated station file."""

    name: str
    limits: Limits
    #: keyed by role, in the order of :data:`labctl.core.roles.ROLES`.
    instruments: Mapping[Role, InstrumentConfig]
    visa_library: str = DEFAULT_VISA_LIBRARY
    source: Path | None = field(default=None, compare=False)
    #: Mains frequency (Hz) of the bench: sets the length of an NPLC, so the reading time.
    line_frequency_Hz: float = DEFAULT_LINE_FREQUENCY_Hz
    #: Extra read channels (``read_smu_2`` ...), in channel order; each senses a group of bit
    #: lines at the same time as ``read_smu`` (docs/array-controller-protocol.md).
    read_channels: tuple[InstrumentConfig, ...] = ()

    @property
    def n_read_channels(self) -> int:
        """Read channels in all: ``read_smu`` plus the extra ones."""
        return 1 + len(self.read_channels)


def load_station_config(path: str | Path) -> StationConfig:
    """Read and validate a station TOML file; raise :class:`ConfigError` on any problem."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read station file: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text (byte {exc.start})") from exc
    return parse_station_config(document, source=path)


def parse_station_config(document: Mapping[str, Any], source: Path | None = None) -> StationConfig:
    """Validate an already parsed station document (see :func:`load_station_config`)."""
    where = str(source) if source is not None else "<station>"
    check = _Checker(where)
    check.keys("", document, required=("station", "limits", "instruments"), optional=())
    station = check.table("station", document["station"])
    check.keys("[station]", station, required=("name",),
               optional=("visa_library", "line_frequency_Hz"))
    name = check.string("[station] name", station["name"])
    line_frequency_Hz = check.positive(
        "[station] line_frequency_Hz",
        station.get("line_frequency_Hz", DEFAULT_LINE_FREQUENCY_Hz),
    )
    if line_frequency_Hz not in LINE_FREQUENCIES_Hz:
        check.fail("[station] line_frequency_Hz",
                   f"must be 50 or 60 (the mains frequency), got {line_frequency_Hz:g}")
    visa_library = check.string(
        "[station] visa_library", station.get("visa_library", DEFAULT_VISA_LIBRARY), empty_ok=True
    )
    problem = visa_library_problem(visa_library)
    if problem is not None:
        check.fail("[station] visa_library", problem)
    limits = _parse_limits(check, check.table("limits", document["limits"]))
    table = check.table("instruments", document["instruments"])
    instruments = _parse_instruments(check, table)
    read_channels = _parse_read_channels(check, table)
    return StationConfig(name, limits, instruments, visa_library, source, line_frequency_Hz,
                         read_channels)


def sim_station_config(
    resources: Mapping[Role, str],
    path: Path = SIM_STATION_FILE,
    read_channels: Mapping[str, str] | None = None,
) -> StationConfig:
    """The ``data/stations/sim.toml`` station with the embedded simulator's resource strings.

    ``read_channels`` maps extra read-channel keys (``read_smu_2`` ...) to the resources of a
    simulator started with them; without it the station reads through ``read_smu`` alone.
    """
    config = load_station_config(path)
    missing = sorted(set(config.instruments) - set(resources))
    if missing:
        raise ConfigError(f"simulated station: no resource for role(s) {', '.join(missing)}")
    instruments = {
        role: replace(instrument, resource=resources[role])
        for role, instrument in config.instruments.items()
    }
    extras: tuple[InstrumentConfig, ...] = ()
    if read_channels is not None:
        absent = [c.key for c in config.read_channels if c.key not in read_channels]
        if absent:
            raise ConfigError(f"simulated station: no resource for {', '.join(absent)}")
        extras = tuple(replace(c, resource=read_channels[c.key]) for c in config.read_channels)
    return replace(config, instruments=instruments, read_channels=extras)


def visa_library_problem(visa_library: str) -> str | None:
    """Why ``visa_library`` may not be loaded (``None``: it may). pyvisa loads whatever shared
    object it is given, and its constructor runs at once, so only the known backends and the
    vendors' VISA libraries in their install folders are accepted."""
    library, at, backend = visa_library.rpartition("@")
    if not at:
        library, backend = visa_library, "ivi"
    if backend not in VISA_BACKENDS:
        return (f"unknown VISA backend {'@' + backend!r} "
                f"(known: {', '.join('@' + b for b in VISA_BACKENDS)})")
    if not library or (library == MACOS_VISA_FRAMEWORK and backend == "ivi"):
        return None
    if backend != "ivi":
        return f"the @{backend} backend takes no library path, got {library!r}"
    path = library.replace("\\", "/")
    name = path.rsplit("/", 1)[-1]
    if not VENDOR_VISA_FILES.match(name):
        return (f"{library!r} is not a vendor VISA library (visa64.dll, visa32.dll, "
                f"libvisa.so.7, libiovisa.so, librsvisa.so, {MACOS_VISA_FRAMEWORK})")
    if "/" in path:
        folder = posixpath.normpath(path.rsplit("/", 1)[0]).lower()
        if ".." in path.split("/") or not any(
            folder == root.lower() or folder.startswith(root.lower() + "/")
            for root in VENDOR_VISA_FOLDERS
        ):
            return (f"{library!r} is not in a VISA install folder (/usr/lib, /opt/keysight, "
                    "C:/Windows/System32, ...: docs/reliability.md)")
    return None


def require_known_visa_library(visa_library: str) -> None:
    """ConfigError unless :func:`visa_library_problem` accepts ``visa_library``; checked again
    before any connection is opened (a config may be built in code, not from a file)."""
    problem = visa_library_problem(visa_library)
    if problem is not None:
        raise ConfigError(one_line(f"visa_library: {problem}"))


def _parse_limits(check: _Checker, table: Mapping[str, Any]) -> Limits:
    names = [f.name for f in fields(Limits)]
    check.keys("[limits]", table, required=names, optional=())
    values = {name: check.positive(f"[limits] {name}", table[name]) for name in names}
    limits = Limits(**values)
    for key, ceiling in CEILINGS.items():
        if values[key] > ceiling.value:
            check.fail(
                f"[limits] {key}",
                f"{values[key]:g} {ceiling.unit} is above the ceiling of {ceiling.value:g} "
                f"{ceiling.unit} ({ceiling.reason}); a station file may only tighten it",
            )
    for level, maximum in (
        ("read_voltage_V", "max_read_voltage_V"),
        ("write_voltage_V", "max_write_voltage_V"),
        ("gate_voltage_V", "max_gate_voltage_V"),
    ):
        if values[level] > values[maximum]:
            check.fail(
                f"[limits] {level}",
                f"{values[level]:g} V is above {maximum} = {values[maximum]:g} V",
            )
    if limits.write_width_s < WRITE_WIDTH_RANGE_s[0]:
        check.fail("[limits] write_width_s",
                   f"{limits.write_width_s:g} s is below the controller's shortest pulse of "
                   f"{WRITE_WIDTH_RANGE_s[0]:g} s")
    return limits


def _parse_instruments(check: _Checker, table: Mapping[str, Any]) -> dict[Role, InstrumentConfig]:
    extra_keys = [read_channel_key(k) for k in range(1, MAX_READ_CHANNELS)]
    check.keys("[instruments]", table, required=tuple(ROLE_DRIVERS), optional=extra_keys)
    return {role: _parse_instrument(check, table, role.value, role, expected_driver)
            for role, expected_driver in ROLE_DRIVERS.items()}


def _parse_read_channels(
    check: _Checker, table: Mapping[str, Any]
) -> tuple[InstrumentConfig, ...]:
    """``[instruments.read_smu_2]`` ...: numbered without gaps (a missing channel would leave
    its group of bit lines unread), each with the read SMU's driver."""
    channels = sorted(c for c in map(parse_read_channel_key, table) if c)
    for expected, channel in enumerate(channels, start=1):
        if channel != expected:
            check.fail(f"[instruments.{read_channel_key(channel)}]",
                       f"read channels must be numbered without gaps: "
                       f"[instruments.{read_channel_key(expected)}] is missing")
    return tuple(
        _parse_instrument(check, table, read_channel_key(c), Role.READ_SMU,
                          ROLE_DRIVERS[Role.READ_SMU], channel=c)
        for c in channels
    )


def _parse_instrument(check: _Checker, table: Mapping[str, Any], key: str, role: Role,
                      expected_driver: str, channel: int = 0) -> InstrumentConfig:
    section = f"[instruments.{key}]"
    entry = check.table(f"instruments.{key}", table[key])
    check.keys(section, entry, required=("driver", "resource"), optional=("timeout_s",))
    driver = check.string(f"{section} driver", entry["driver"])
    if driver not in DRIVER_NAMES:
        check.fail(
            f"{section} driver",
            f"unknown driver {driver!r} (known: {', '.join(DRIVER_NAMES)})",
        )
    if driver != expected_driver:
        check.fail(f"{section} driver", f"role {key} needs driver {expected_driver!r}")
    resource = check.string(f"{section} resource", entry["resource"])
    timeout_s = check.positive(
        f"{section} timeout_s", entry.get("timeout_s", DEFAULT_TIMEOUT_s)
    )
    return InstrumentConfig(role, driver, resource, timeout_s, channel)


def one_line(text: str) -> str:
    """``text`` with control characters escaped (a key may hold a newline)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class _Checker:
    """Type and key checks that raise ``ConfigError("<file>: <key>: <problem>")``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(one_line(f"{self.where}: {key}: {problem}"))

    def keys(
        self, section: str, table: Mapping[str, Any], required: Any, optional: Any
    ) -> None:
        for key in table:
            if key not in required and key not in optional:
                known = ", ".join([*required, *optional])
                self.fail(f"{section} {key}".strip(), f"unknown key (known: {known})")
        for key in required:
            if key not in table:
                label = f"[{key}]" if not section else f"{section} {key}"
                self.fail(label, "missing")

    def table(self, key: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(f"[{key}]", f"must be a table, got {type(value).__name__}")
        return value

    def string(self, key: str, value: Any, empty_ok: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {value!r}")
        if not empty_ok and not value.strip():
            self.fail(key, "must not be empty")
        return str(value)

    def positive(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            self.fail(key, f"must be a positive number, got {value!r}")
        return float(value)
