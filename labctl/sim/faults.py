"""Fault injection for the simulated station: what a night on a real bench throws at a sweep.

A fault SPEC (documented in docs/reliability.md) sets, per instrument, how often its replies are
lost, delayed or garbled, how often it drops a connection, refuses one or restarts (forgetting
its settings), how often the prober answers an error code and an SMU acquisition trips its
current limit; station-wide, how often the probes lose contact in the middle of an acquisition.

    read_smu:garble=0.01,timeout=0.005;prober:error=0.01;controller:restart=0.001;contact_loss=0.02

Every decision draws from its own generator, ``numpy.random.default_rng([seed, role, fault,
_FAULT_STREAM])``, so a run is reproducible from the seed and one fault's rate never shifts the
sequence of another. :class:`InstrumentFaults` is what a server consults; it also counts what it
injected (:class:`FaultCounts`), the figures behind docs/reliability.md.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np

from labctl.core.errors import ConfigError
from labctl.core.roles import ROLES, Role

#: Targets a SPEC group may name: a role, or a group of roles.
GROUP_TARGETS: dict[str, tuple[Role, ...]] = {
    **{role.value: (role,) for role in ROLES},
    "smu": (Role.READ_SMU, Role.GATE_SMU),
    "all": ROLES,
}
#: Station-wide settings (a group without a target, or ``station:``).
STATION_SETTINGS = ("seed", "contact_loss")
#: Per-instrument probabilities, and the roles each applies to.
PROBABILITIES: dict[str, tuple[Role, ...]] = {
    "timeout": ROLES,
    "delay": ROLES,
    "garble": ROLES,
    "drop": ROLES,
    "refuse": ROLES,
    "restart": ROLES,
    "error": (Role.PROBER,),
    "compliance": (Role.READ_SMU, Role.GATE_SMU),
}
DEFAULT_DELAY_s = 2.0
MAX_DELAY_s = 60.0
#: Fourth seed word of every fault generator (distinct from the wafer's own streams).
_FAULT_STREAM = 0xFA17
#: SCI error the prober answers under the ``error`` fault (the command is not executed).
PROBER_ERROR_REPLY = "520: Prober busy, command not executed (simulated fault)"
#: Characters a valid reply never contains, used by the garbler's ``noise`` mode.
_NOISE = "#$%&@~`|\x7f\xa7\xff"

_NAME = re.compile(r"^[a-z_]+$")
_SPEC_LENGTH_LIMIT = 10_000


@dataclass(frozen=True)
class RoleFaults:
    """Fault rates of one instrument: probabilities per reply, line, connection or acquisition."""

    timeout: float = 0.0  # per reply: the reply is lost (the client times out)
    delay: float = 0.0  # per reply: the reply is sent delay_s late
    delay_s: float = DEFAULT_DELAY_s
    garble: float = 0.0  # per reply: one corruption (truncation, noise byte or digit)
    drop: float = 0.0  # per line: the connection is closed and the line lost
    refuse: float = 0.0  # per connection: reset at once
    restart: float = 0.0  # per line: power cycle, line lost, connections closed
    error: float = 0.0  # prober, per SCI command: error code instead of execution
    compliance: float = 0.0  # SMUs, per acquisition: a current spike trips the limit

    @property
    def any(self) -> bool:
        return any(getattr(self, name) > 0 for name in PROBABILITIES)


@dataclass(frozen=True)
class FaultSpec:
    """A parsed fault SPEC: rates per role, the contact-loss rate and the seed (None: wafer's)."""

    roles: Mapping[Role, RoleFaults] = field(default_factory=dict)
    contact_loss: float = 0.0  # per read-SMU acquisition in contact
    seed: int | None = None

    def role(self, name: Role) -> RoleFaults:
        return self.roles.get(name, RoleFaults())

    @property
    def empty(self) -> bool:
        return self.contact_loss == 0 and not any(r.any for r in self.roles.values())

    def to_text(self) -> str:
        """The canonical SPEC of this value (``parse_fault_spec(spec.to_text()) == spec``)."""
        groups = []
        station = []
        if self.seed is not None:
            station.append(f"seed={self.seed}")
        if self.contact_loss:
            station.append(f"contact_loss={self.contact_loss!r}")
        if station:
            groups.append(",".join(station))
        defaults = RoleFaults()
        for role in ROLES:
            faults = self.role(role)
            settings = [
                f"{f.name}={getattr(faults, f.name)!r}"
                for f in fields(RoleFaults)
                if getattr(faults, f.name) != getattr(defaults, f.name)
            ]
            if settings:
                groups.append(f"{role}:" + ",".join(settings))
        return ";".join(groups)


def parse_fault_spec(text: str) -> FaultSpec:
    """Parse a fault SPEC; ConfigError naming the offending part on any problem."""
    if not isinstance(text, str):
        raise ConfigError(f"fault spec must be a string, got {type(text).__name__}")
    if len(text) > _SPEC_LENGTH_LIMIT:
        raise ConfigError(f"fault spec too long ({len(text)} characters)")
    roles: dict[Role, dict[str, float]] = {}
    station: dict[str, float] = {}  # seed (int) and contact_loss
    for raw_group in text.split(";"):
        group = raw_group.strip()
        if not group:
            continue
        target, settings = _split_target(group)
        for raw_setting in settings.split(","):
            name, value = _setting(raw_setting, group)
            if target in (None, "station") and name in STATION_SETTINGS:
                _store(station, name, value, "station-wide", group)
                continue
            if target == "station" or name in STATION_SETTINGS:
                raise ConfigError(
                    f"fault spec: {name!r} in {group!r}: "
                    + (f"{name} is station-wide (give it without a target)"
                       if name in STATION_SETTINGS else "not a station-wide setting")
                )
            _store_role_setting(roles, GROUP_TARGETS["all"] if target is None
                                else GROUP_TARGETS[target], name, value, group)
    seed = station.get("seed")
    parsed = {role: RoleFaults(**values) for role, values in roles.items()}
    return FaultSpec(
        roles={role: faults for role, faults in parsed.items() if faults != RoleFaults()},
        contact_loss=station.get("contact_loss", 0.0),
        seed=None if seed is None else int(seed),
    )


def _split_target(group: str) -> tuple[str | None, str]:
    if ":" not in group:
        return None, group
    target, _, settings = group.partition(":")
    target = target.strip().lower()
    if target not in GROUP_TARGETS and target != "station":
        known = ", ".join([*GROUP_TARGETS, "station"])
        raise ConfigError(f"fault spec: unknown target {target!r} in {group!r} (known: {known})")
    if not settings.strip():
        raise ConfigError(f"fault spec: no settings after {target}: in {group!r}")
    return target, settings


def _setting(raw: str, group: str) -> tuple[str, float]:
    text = raw.strip()
    name, sep, value_text = text.partition("=")
    name = name.strip().lower()
    if not sep or not name:
        raise ConfigError(f"fault spec: expected name=value, got {text!r} in {group!r}")
    if not _NAME.match(name):
        raise ConfigError(f"fault spec: bad setting name {name!r} in {group!r}")
    known = (*PROBABILITIES, "delay_s", *STATION_SETTINGS)
    if name not in known:
        raise ConfigError(
            f"fault spec: unknown setting {name!r} in {group!r} (known: {', '.join(known)})"
        )
    if name == "seed":
        digits = value_text.strip()
        if not digits.isascii() or not digits.isdigit() or int(digits) >= 2**63:
            raise ConfigError(f"fault spec: seed must be a whole number >= 0, got {digits!r}")
        return name, int(digits)
    try:
        value = float(value_text.strip())
    except ValueError:
        raise ConfigError(
            f"fault spec: {name} must be a number, got {value_text.strip()!r}"
        ) from None
    if not math.isfinite(value):
        raise ConfigError(f"fault spec: {name} must be finite, got {value_text.strip()!r}")
    if name == "delay_s":
        if not 0 < value <= MAX_DELAY_s:
            raise ConfigError(
                f"fault spec: delay_s must be in (0, {MAX_DELAY_s:g}] s, got {value:g}"
            )
    elif not 0.0 <= value <= 1.0:
        raise ConfigError(f"fault spec: {name} is a probability (0 ... 1), got {value:g}")
    return name, value


def _store(values: dict[str, float], name: str, value: float, where: str, group: str) -> None:
    if name in values:
        raise ConfigError(f"fault spec: {name} given twice for {where} (in {group!r})")
    values[name] = value


def _store_role_setting(
    roles: dict[Role, dict[str, float]], targets: tuple[Role, ...], name: str, value: float,
    group: str,
) -> None:
    applicable = targets if name == "delay_s" else tuple(
        role for role in targets if role in PROBABILITIES[name]
    )
    if not applicable:
        raise ConfigError(
            f"fault spec: {name} does not apply to {', '.join(targets)} (only to "
            f"{', '.join(PROBABILITIES[name])}) in {group!r}"
        )
    for role in applicable:
        _store(roles.setdefault(role, {}), name, value, role, group)


# --------------------------------------------------------------------------- injection


@dataclass
class FaultCounts:
    """What one instrument received and what was injected into it."""

    lines: int = 0
    replies: int = 0
    connections: int = 0
    acquisitions: int = 0
    injected: dict[str, int] = field(default_factory=dict)

    @property
    def faulty_replies(self) -> int:
        """Replies that did not arrive intact and on time (lost, late, garbled, error code)."""
        return sum(self.injected.get(name, 0) for name in ("timeout", "delay", "garble", "error"))

    def total_injected(self) -> int:
        return sum(self.injected.values())

    def merged(self, other: FaultCounts) -> FaultCounts:
        names = set(self.injected) | set(other.injected)
        return FaultCounts(
            lines=self.lines + other.lines,
            replies=self.replies + other.replies,
            connections=self.connections + other.connections,
            acquisitions=self.acquisitions + other.acquisitions,
            injected={n: self.injected.get(n, 0) + other.injected.get(n, 0) for n in names},
        )


LineAction = Literal["execute", "drop", "restart", "error"]


@dataclass(frozen=True)
class ReplyFate:
    """What happens to a reply: sent as ``text`` (None: lost) after ``delay_s``."""

    text: str | None
    delay_s: float = 0.0


@dataclass(frozen=True)
class AcquisitionFaults:
    """Faults of one SMU acquisition: reading indices where contact is lost / a spike trips."""

    contact_lost_at: int | None = None
    spike_at: int | None = None


class InstrumentFaults:
    """The fault decisions of one instrument; thread-safe (one server thread per connection)."""

    def __init__(self, role: Role, faults: RoleFaults, seed: int, contact_loss: float = 0.0
                 ) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.role = Role(role)
        self.faults = faults
        self.contact_loss = contact_loss if role == Role.READ_SMU else 0.0
        self.counts = FaultCounts()
        self._lock = threading.Lock()
        role_index = ROLES.index(self.role)
        names = [*PROBABILITIES, "contact_loss", "garble_mode"]
        self._rngs = {
            name: np.random.default_rng([seed, role_index, k, _FAULT_STREAM])
            for k, name in enumerate(names)
        }

    @classmethod
    def for_role(cls, spec: FaultSpec, role: Role, seed: int) -> InstrumentFaults:
        return cls(role, spec.role(role), spec.seed if spec.seed is not None else seed,
                   spec.contact_loss)

    # --- decisions ------------------------------------------------------------------------------
    def on_connection(self) -> bool:
        """True if this new connection is to be refused (reset at once)."""
        with self._lock:
            self.counts.connections += 1
            return self._applied("refuse", self._draw("refuse", self.faults.refuse))

    def on_line(self, line: str) -> LineAction:
        """What to do with a received line (empty lines are executed: they do nothing).

        Every fault's generator is drawn for every line, so the rate of one never shifts
        when another fires; the first that fires applies.
        """
        with self._lock:
            self.counts.lines += 1
            if not line.strip():
                return "execute"
            restart = self._draw("restart", self.faults.restart)
            drop = self._draw("drop", self.faults.drop)
            error = self._answers_sci(line) and self._draw("error", self.faults.error)
            if self._applied("restart", restart):
                return "restart"
            if self._applied("drop", drop):
                return "drop"
            if self._applied("error", error):
                self.counts.replies += 1
                return "error"
            return "execute"

    def on_reply(self, text: str) -> ReplyFate:
        """The fate of a reply line produced by the instrument."""
        with self._lock:
            self.counts.replies += 1
            lost = self._draw("timeout", self.faults.timeout)
            garbled = self._draw("garble", self.faults.garble)
            late = self._draw("delay", self.faults.delay)
            if self._applied("timeout", lost):
                return ReplyFate(None)
            if self._applied("garble", garbled):
                text = garble(text, self._rngs["garble_mode"])
            if self._applied("delay", late):
                return ReplyFate(text, self.faults.delay_s)
            return ReplyFate(text)

    def on_acquisition(self, n_points: int, in_contact: bool) -> AcquisitionFaults:
        """Faults of an acquisition of ``n_points`` readings."""
        with self._lock:
            self.counts.acquisitions += 1
            lost_at = spike_at = None
            lost = self._draw("contact_loss", self.contact_loss)
            if self._applied("contact_loss", lost and in_contact):
                lost_at = int(self._rngs["contact_loss"].integers(0, n_points))
            if self._applied("compliance", self._draw("compliance", self.faults.compliance)):
                spike_at = int(self._rngs["compliance"].integers(0, n_points))
            return AcquisitionFaults(lost_at, spike_at)

    # --- helpers --------------------------------------------------------------------------------
    def _draw(self, name: str, probability: float) -> bool:
        return probability > 0.0 and bool(self._rngs[name].random() < probability)

    def _applied(self, name: str, fired: bool) -> bool:
        if fired:
            self.counts.injected[name] = self.counts.injected.get(name, 0) + 1
        return fired

    def _answers_sci(self, line: str) -> bool:
        """Prober SCI commands (every one replies); IEEE 488.2 ``*`` commands are exempt."""
        return self.role == Role.PROBER and not line.lstrip().startswith("*")


def garble(text: str, rng: np.random.Generator) -> str:
    """One corruption of a reply: truncated, one character replaced by a byte no reply contains,
    or one decimal digit replaced by another (the kind a parser alone cannot see)."""
    digits = [i for i, char in enumerate(text) if char.isdigit()]
    modes = ["truncate", "noise"] + (["digit"] if digits else [])
    mode = modes[int(rng.integers(0, len(modes)))]
    if mode == "truncate" or not text:
        return text[: int(rng.integers(0, max(1, len(text))))]
    if mode == "noise":
        i = int(rng.integers(0, len(text)))
        return text[:i] + _NOISE[int(rng.integers(0, len(_NOISE)))] + text[i + 1 :]
    i = digits[int(rng.integers(0, len(digits)))]
    other = (int(text[i]) + int(rng.integers(1, 10))) % 10
    return text[:i] + str(other) + text[i + 1 :]


def with_seed(spec: FaultSpec, seed: int) -> FaultSpec:
    """``spec`` with its fault seed set (the soak harness varies it run by run)."""
    return replace(spec, seed=seed)
