"""Emulated FormFactor Velox prober (SCI command subset), over the line server.

Every SCI command gets one reply ``<code>: <payload>`` (0 = OK), the form PyMeasure's ``Velox``
driver parses; ``*IDN?``, ``*OPC?`` and ``*STB?`` reply without a code, ``*RST`` and ``*CLS``
reply nothing (PyMeasure only writes them). Command names are case-insensitive, arguments are
separated by blanks.

Commands: ``*IDN?``, ``ReportSoftwareVersion``, ``IsAppRegistered <app>`` (``0: 1`` for
WaferMap), ``StepFirstDie``, ``StepNextDie [<col> <row> [<subdie>]]`` (``0: <col> <row> 0 1``;
past the last die ``703: End of wafer map``), ``ReadMapPosition`` (``0: <col> <row> <x_um>
<y_um> 0 1``), ``MoveChuckContact|MoveChuckAlign|MoveChuckSeparation [<velocity %>]``
(``0: <z_um>``), ``ReadChuckIndex [Y|I]``, ``SetChuckIndex <x> <y> [Y|I]``,
``ReadChuckPosition [Y|I] [H|Z|D|C|R]`` (``0: <x> <y> <z>``, z = 0 at contact, negative below),
``MoveChuck <x> <y> [H|Z|D|C|R] [Y|I|X] [<velocity>]`` and
``MoveChuckIndex <nx> <ny> [H|Z|D|C|R] [<velocity>]`` (``0: <x_um> <y_um>``); status:
``ReportKernelVersion [K]``, ``ReadChuckHeights [Y|I]`` (``0: <contact> <overtravel> <align gap>
<separation gap> <search gap>``), ``ReadChuckStatus`` (``0: <init> <mode> <limit> <moving> <comp>
<vacuum> <preset height> <load pos> <lift down> <camera> <quiet>``, preset height C|A|S) and
``ReadProberStatus`` (``0: <busy> <contact> <mode> <quiet>``). Response fields follow the
published SCI reference (FormFactor's velox Python API docstrings); the values of flags the
emulator does not model are fixed (docs/instruments-emulation.md).

Every XY move (stepping included) lowers the chuck to separation first. The probes touch a die
only when the chuck sits on a die site (:data:`labctl.sim.state.PAD_TOLERANCE_UM`): after an
arbitrary ``MoveChuck`` or with a wrong ``SetChuckIndex``, contact reads an open circuit.
Errors: ``501: Unknown command <name>``, ``502: Invalid parameter`` (wrong count, not a number,
out of range, no die there).
"""

from __future__ import annotations

from collections.abc import Callable

from labctl.core.wafer_map import WAFER_MAP
from labctl.sim.servers.base import LineInstrument
from labctl.sim.state import CHUCK_Z_UM, DIE_PITCH_UM, ChuckHeight, StationState

SOFTWARE_VERSION = "3.70.0.0"
KERNEL_VERSION = "3.70"
END_OF_WAFER_MAP = 703
UNKNOWN_COMMAND = 501
INVALID_PARAMETER = 502

_VELOCITY_RANGE_PERCENT = (0.1, 100.0)
_UNIT_UM = {"Y": 1.0, "I": 25.4}  # microns, mils
_REGISTERED_APPS = {"wafermap"}
#: ReadChuckStatus flags: X, Y and Z initialised; modes AutoZ, Interlock and IsContactSet.
_FLAGS_INIT = 0b0111
_FLAGS_MODE = 0b10110
_PRESET_HEIGHT = {"contact": "C", "align": "A", "separation": "S"}
# Wafer centre on the map grid (8 columns x 6 rows, origin at die site col 0, row 0).
_CENTER_UM = (3.5 * DIE_PITCH_UM, 2.5 * DIE_PITCH_UM)


class VeloxError(Exception):
    """A refused SCI command; becomes ``<code>: <message>``."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def _invalid(detail: str = "") -> VeloxError:
    return VeloxError(INVALID_PARAMETER, "Invalid parameter" + (f" ({detail})" if detail else ""))


def _number(token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise _invalid(f"not a number: {token[:40]}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _invalid(f"not a finite number: {token[:40]}")
    return value


def _integer(token: str) -> int:
    value = _number(token)
    if value != int(value):
        raise _invalid(f"not an integer: {token[:40]}")
    return int(value)


def _check_count(args: list[str], minimum: int, maximum: int) -> None:
    if not minimum <= len(args) <= maximum:
        raise _invalid(f"expected {minimum} to {maximum} arguments, got {len(args)}")


def _velocity(args: list[str]) -> None:
    """Validate an optional velocity in percent (the emulated chuck moves instantly)."""
    _check_count(args, 0, 1)
    if args:
        low, high = _VELOCITY_RANGE_PERCENT
        if not low <= _number(args[0]) <= high:
            raise _invalid(f"velocity {args[0]} not in {low} ... {high} %")


def _fmt(value: float) -> str:
    return f"{value:.1f}"


class VeloxInstrument(LineInstrument):
    """The prober's SCI interpreter over the shared station state."""

    def __init__(self, state: StationState, serial: str) -> None:
        self.state = state
        self.lock = state.lock
        self.serial = serial
        self._commands: dict[str, Callable[[list[str]], str]] = {
            "reportsoftwareversion": self._software_version,
            "isappregistered": self._is_app_registered,
            "stepfirstdie": self._step_first_die,
            "stepnextdie": self._step_next_die,
            "readmapposition": self._read_map_position,
            "movechuckcontact": lambda args: self._move_height("contact", args),
            "movechuckalign": lambda args: self._move_height("align", args),
            "movechuckseparation": lambda args: self._move_height("separation", args),
            "readchuckindex": self._read_chuck_index,
            "setchuckindex": self._set_chuck_index,
            "readchuckposition": self._read_chuck_position,
            "movechuck": self._move_chuck,
            "movechuckindex": self._move_chuck_index,
            "reportkernelversion": self._kernel_version,
            "readchuckheights": self._read_chuck_heights,
            "readchuckstatus": self._read_chuck_status,
            "readproberstatus": self._read_prober_status,
        }

    # --- LineInstrument -------------------------------------------------------------------------
    def handle_line(self, line: str) -> str | None:
        tokens = line.split()
        if not tokens:
            return None
        name, args = tokens[0], tokens[1:]
        common = self._common(name.upper(), args)
        if common is not None:
            return common or None
        handler = self._commands.get(name.lower())
        if handler is None:
            return f"{UNKNOWN_COMMAND}: Unknown command {name[:40]}"
        try:
            return handler(args)
        except VeloxError as error:
            return f"{error.code}: {error.message}"

    def handle_overlong_line(self) -> str | None:
        return f"{INVALID_PARAMETER}: Invalid parameter (command too long)"

    def power_cycle(self) -> None:
        """A restarted prober lowers the chuck to separation; position and index are kept."""
        self._set_height("separation")

    def _common(self, name: str, args: list[str]) -> str | None:
        """IEEE 488.2 commands: reply text, "" for no reply, None if not one of them."""
        if name == "*IDN?":
            return f"FormFactor GmbH,Velox,{self.serial},{SOFTWARE_VERSION}"
        if name == "*OPC?":
            return "1"
        if name == "*STB?":
            return "0"
        if name in ("*RST", "*CLS"):
            if name == "*RST":
                self._set_height("separation")
            return ""
        return None

    # --- information ----------------------------------------------------------------------------
    def _software_version(self, args: list[str]) -> str:
        _check_count(args, 0, 1)
        return f"0: {SOFTWARE_VERSION}"

    def _is_app_registered(self, args: list[str]) -> str:
        _check_count(args, 1, 1)
        return f"0: {int(args[0].lower() in _REGISTERED_APPS)}"

    def _kernel_version(self, args: list[str]) -> str:
        _check_count(args, 0, 1)
        if args and args[0].upper() not in ("K", "KERNEL"):
            raise _invalid(f"module {args[0][:10]} (only the kernel, K, is emulated)")
        return f"0: {KERNEL_VERSION} Velox emulated kernel {SOFTWARE_VERSION}"

    # --- status ---------------------------------------------------------------------------------
    def _read_chuck_heights(self, args: list[str]) -> str:
        """Contact height from zero, then the gaps below it (overtravel off, no search gap)."""
        _check_count(args, 0, 1)
        scale = self._unit(args[0] if args else "Y")
        contact = CHUCK_Z_UM["contact"]
        align_gap = contact - CHUCK_Z_UM["align"]
        separation_gap = contact - CHUCK_Z_UM["separation"]
        fields = (contact, 0.0, align_gap, separation_gap, 0.0)
        return "0: " + " ".join(_fmt(value / scale) for value in fields)

    def _read_chuck_status(self, args: list[str]) -> str:
        _check_count(args, 0, 0)
        preset = _PRESET_HEIGHT[self.state.prober.height]
        return f"0: {_FLAGS_INIT} {_FLAGS_MODE} 0 0 T 1 {preset} 0 0 N 0"

    def _read_prober_status(self, args: list[str]) -> str:
        _check_count(args, 0, 0)
        in_contact = int(self.state.prober.height == "contact")
        return f"0: 0 {in_contact} R 0"

    # --- wafer map ------------------------------------------------------------------------------
    def _step_first_die(self, args: list[str]) -> str:
        _check_count(args, 0, 2)  # optional ClearBins, RecalcRoute flags: accepted, no effect
        return self._step_to(0)

    def _step_next_die(self, args: list[str]) -> str:
        if not args:
            following = self.state.prober.map_index + 1
            if following >= len(WAFER_MAP):
                self._set_height("separation")
                return f"{END_OF_WAFER_MAP}: End of wafer map"
            return self._step_to(following)
        _check_count(args, 2, 3)
        col, row = _integer(args[0]), _integer(args[1])
        if len(args) == 3 and _integer(args[2]) != 0:
            raise _invalid("this map has one subdie (index 0)")
        if (col, row) not in WAFER_MAP:
            raise _invalid(f"no die at {col} {row}")
        return self._step_to(WAFER_MAP.index((col, row)))

    def _step_to(self, map_index: int) -> str:
        col, row = WAFER_MAP[map_index]
        prober = self.state.prober
        self._move_xy(col * prober.index_x_um, row * prober.index_y_um)
        prober.map_index = map_index
        return f"0: {col} {row} 0 1"

    def _read_map_position(self, args: list[str]) -> str:
        _check_count(args, 0, 1)
        prober = self.state.prober
        col = round(prober.x_um / prober.index_x_um)
        row = round(prober.y_um / prober.index_y_um)
        return f"0: {col} {row} {_fmt(prober.x_um)} {_fmt(prober.y_um)} 0 1"

    # --- chuck ----------------------------------------------------------------------------------
    def _move_height(self, height: ChuckHeight, args: list[str]) -> str:
        _velocity(args)
        self._set_height(height)
        return f"0: {_fmt(self.state.prober.z_um)}"

    def _set_height(self, height: ChuckHeight) -> None:
        self.state.prober.height = height
        self.state.contact_lost = False  # any chuck motion re-seats the probes

    def _move_xy(self, x_um: float, y_um: float) -> None:
        """Separate, then move; the map sequence follows when the target is a die site."""
        prober = self.state.prober
        self._set_height("separation")
        prober.x_um, prober.y_um = x_um, y_um
        position = self.state.die_position
        if position is not None:
            prober.map_index = WAFER_MAP.index(position)

    def _read_chuck_index(self, args: list[str]) -> str:
        _check_count(args, 0, 1)
        scale = self._unit(args[0] if args else "Y")
        prober = self.state.prober
        return f"0: {_fmt(prober.index_x_um / scale)} {_fmt(prober.index_y_um / scale)}"

    def _set_chuck_index(self, args: list[str]) -> str:
        _check_count(args, 2, 3)
        scale = self._unit(args[2] if len(args) == 3 else "Y")
        x_um, y_um = _number(args[0]) * scale, _number(args[1]) * scale
        if x_um <= 0 or y_um <= 0:
            raise _invalid("index must be positive")
        self.state.prober.index_x_um, self.state.prober.index_y_um = x_um, y_um
        return "0:"

    def _read_chuck_position(self, args: list[str]) -> str:
        _check_count(args, 0, 3)
        unit, ref = "Y", "H"
        for arg in args:
            if arg.upper() in _UNIT_UM:
                unit = arg.upper()
            elif len(arg) == 1 and arg.upper() in "HZDCR":
                ref = arg.upper()
            else:
                raise _invalid(f"unexpected {arg[:40]}")
        scale = self._unit(unit)
        prober = self.state.prober
        origin_x, origin_y = (prober.x_um, prober.y_um) if ref == "R" else self._origin(ref)
        return (
            f"0: {_fmt((prober.x_um - origin_x) / scale)} {_fmt((prober.y_um - origin_y) / scale)}"
            f" {_fmt(prober.z_um / scale)}"
        )

    def _move_chuck(self, args: list[str]) -> str:
        _check_count(args, 2, 5)
        ref = args[2].upper() if len(args) > 2 else "H"
        unit = args[3].upper() if len(args) > 3 else "Y"
        _velocity(args[4:])
        x, y = _number(args[0]), _number(args[1])
        if unit == "X":
            dx_um, dy_um = x * self.state.prober.index_x_um, y * self.state.prober.index_y_um
        else:
            scale = self._unit(unit)
            dx_um, dy_um = x * scale, y * scale
        origin_x, origin_y = self._origin(ref)
        self._move_xy(origin_x + dx_um, origin_y + dy_um)
        return f"0: {_fmt(self.state.prober.x_um)} {_fmt(self.state.prober.y_um)}"

    def _move_chuck_index(self, args: list[str]) -> str:
        _check_count(args, 2, 4)
        ref = args[2].upper() if len(args) > 2 else "H"
        _velocity(args[3:])
        steps_x, steps_y = _integer(args[0]), _integer(args[1])
        origin_x, origin_y = self._origin(ref)
        prober = self.state.prober
        self._move_xy(
            origin_x + steps_x * prober.index_x_um, origin_y + steps_y * prober.index_y_um
        )
        return f"0: {_fmt(prober.x_um)} {_fmt(prober.y_um)}"

    def _origin(self, ref: str) -> tuple[float, float]:
        """Chuck coordinates of a position reference: home/zero (map origin), die home, centre."""
        prober = self.state.prober
        if ref in ("H", "Z"):
            return 0.0, 0.0
        if ref == "D":
            col, row = WAFER_MAP[0]
            return col * prober.index_x_um, row * prober.index_y_um
        if ref == "C":
            return _CENTER_UM
        if ref == "R":
            return prober.x_um, prober.y_um
        raise _invalid(f"position reference {ref[:10]} (H, Z, D, C or R)")

    @staticmethod
    def _unit(unit: str) -> float:
        scale = _UNIT_UM.get(unit.upper())
        if scale is None:
            raise _invalid(f"unit {unit[:10]} (Y = microns, I = mils)")
        return scale
