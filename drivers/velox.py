"""FormFactor Velox prober: PyMeasure's driver plus map/chuck position and contact state."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.formfactor.velox import Velox

from drivers.allow_list import TextOnly, refuse_control_characters
from drivers.terminations import with_line_terminations
from labctl.core.errors import InstrumentError, SafetyError
from labctl.core.roles import Role

#: Chuck heights within this distance of the contact height (z = 0) count as contact.
CONTACT_TOLERANCE_um = 0.5


_INTEGER = re.compile(r"^\d+$")
_VELOCITY = re.compile(r"^\d{1,3}(\.\d*)?$")
_WORD = re.compile(r"^[A-Za-z]{1,16}$")


def _count(low: int, high: int, token: re.Pattern[str]) -> Callable[[list[str]], bool]:
    return lambda args: low <= len(args) <= high and all(token.match(a) for a in args)


#: SCI commands (lower case) labctl sends to the prober, with a check of their arguments.
#: Moves across the wafer (``MoveChuck``, ``MoveChuckIndex``), index changes
#: (``SetChuckIndex``: the next step would land elsewhere) and everything else are refused:
#: a lateral move in contact drags the probes across the die.
PROBER_COMMANDS: dict[str, Callable[[list[str]], bool]] = {
    "*idn?": _count(0, 0, _WORD),
    "stepfirstdie": _count(0, 1, _WORD),
    "stepnextdie": lambda args: len(args) in (0, 2, 3) and all(_INTEGER.match(a) for a in args),
    "movechuckcontact": _count(0, 1, _VELOCITY),
    "movechuckseparation": _count(0, 1, _VELOCITY),
    "movechuckalign": _count(0, 1, _VELOCITY),
    "readchuckposition": _count(0, 2, _WORD),
    "readchuckindex": _count(0, 1, _WORD),
    "readchuckstatus": _count(0, 0, _WORD),
    "readchuckheights": _count(0, 1, _WORD),
    "readmapposition": _count(0, 1, _WORD),
    "reportsoftwareversion": _count(0, 0, _WORD),
    "isappregistered": _count(1, 1, _WORD),
}


class ProberReplyError(InstrumentError, ConnectionError):
    """The prober answered with a non-zero SCI error code (other than 703, end of wafer map).

    Also a ``ConnectionError`` so code written against PyMeasure's ``Velox`` still catches it.
    """


def _map_position(values: list[Any]) -> tuple[int, int]:
    try:
        return int(values[0]), int(values[1])
    except (ValueError, IndexError, TypeError):
        raise InstrumentError(f"{Role.PROBER}: garbled map position {values!r}") from None


def _float_tuple(values: list[Any]) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in values)
    except (ValueError, TypeError):
        raise InstrumentError(f"{Role.PROBER}: garbled position {values!r}") from None


class LabctlVelox(TextOnly, Velox):
    """PyMeasure's ``Velox`` with what a die-by-die MTJ sweep needs on top.

    Messages end with ``\\n`` both ways; only the commands of :data:`PROBER_COMMANDS` are
    sent. Non-zero reply codes raise :class:`ProberReplyError`
    (a labctl ``InstrumentError``) so the command line reports them as one line.
    """

    def __init__(self, adapter: Any, name: str = "FormFactor Velox", **kwargs: Any) -> None:
        super().__init__(adapter, name, **with_line_terminations(kwargs))

    map_position = Instrument.measurement(
        "ReadMapPosition",
        """Get the wafer-map position (column, row) of the die under the probes (int, int).""",
        separator=" ",
        cast=int,
        get_process_list=_map_position,
    )

    chuck_position = Instrument.measurement(
        "ReadChuckPosition Y Z",
        """Get the chuck position (x_um, y_um, z_um) in micrometre from the zero reference;
        z is 0 at contact height and negative below it.""",
        separator=" ",
        get_process_list=_float_tuple,
    )

    @property
    def in_contact(self) -> bool:
        """Whether the chuck is at contact height (z == 0 within 0.5 um)."""
        z_um = self.chuck_position[2]
        return abs(z_um) <= CONTACT_TOLERANCE_um

    def check_command(self, command: str) -> None:
        """Raise SafetyError unless ``command`` is on :data:`PROBER_COMMANDS` (printable ASCII,
        arguments checked); nothing is sent."""
        refuse_control_characters(command, self.name)
        name, *args = command.split() or [""]
        check = PROBER_COMMANDS.get(name.lower())
        if check is None or not check(args):
            raise SafetyError(f"{self.name}: {command[:60]!r} refused: not on the prober's "
                              "allow-list; nothing was sent")

    def write(self, command: str, **kwargs: Any) -> None:
        """Send ``command`` if :meth:`check_command` accepts it."""
        self.check_command(command)
        super().write(command, **kwargs)

    def step_to_die(self, col: int, row: int) -> tuple[int, int, int, int]:
        """Step to the die at map position (col, row); the prober separates first.

        Returns the reply (col, row, subdie, number of subdies). Unlike PyMeasure's
        ``wafermap.step_to_die`` this returns the reply and validates the position.
        """
        for label, index in (("col", col), ("row", row)):
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise ValueError(f"die {label} must be a non-negative int, got {index!r}")
        reply = self.values(f"StepNextDie {col} {row}", separator=" ", cast=int)
        if len(reply) != 4 or not all(isinstance(v, int) for v in reply):
            raise InstrumentError(f"{Role.PROBER}: unexpected reply to StepNextDie: {reply!r}")
        return int(reply[0]), int(reply[1]), int(reply[2]), int(reply[3])

    def read(self, **kwargs: Any) -> str:
        """Read one reply; a non-zero code (except 703) raises :class:`ProberReplyError`, a
        reply whose code is not a number (garbled) :class:`InstrumentError`."""
        try:
            return str(super().read(**kwargs))
        except ProberReplyError:
            raise
        except ValueError:
            self.error_code = -1
            raise InstrumentError(f"{Role.PROBER}: garbled reply (no numeric SCI code)") from None
        except ConnectionError as exc:
            if self.error_code:  # the prober's own error reply, parsed by Velox.read
                raise ProberReplyError(f"{Role.PROBER} replied {exc}") from exc
            raise
