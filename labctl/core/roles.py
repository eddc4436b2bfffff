"""The instrument roles of a station: the keys of a station file and of every per-role table."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    """One instrument's job at the probe station. The value is the station-file key."""

    PROBER = "prober"
    READ_SMU = "read_smu"
    GATE_SMU = "gate_smu"
    CONTROLLER = "controller"

    def __str__(self) -> str:
        return self.value


#: Every role, in the order instruments are connected and listed (the simulator's port order).
ROLES: tuple[Role, ...] = tuple(Role)

#: Operator-facing title of each role.
ROLE_TITLES: dict[Role, str] = {
    Role.PROBER: "Prober",
    Role.READ_SMU: "Read SMU",
    Role.GATE_SMU: "Gate SMU",
    Role.CONTROLLER: "Array controller",
}
