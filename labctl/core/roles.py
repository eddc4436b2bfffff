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

#: Most read (sense) channels a station may have: ``read_smu`` plus ``read_smu_2`` ... this.
MAX_READ_CHANNELS = 16


def read_channel_key(channel: int) -> str:
    """Station-file key of read channel ``channel`` (0-based): ``read_smu``, ``read_smu_2``, ...

    Extra read channels are not roles of their own: they are more instruments in the read SMU's
    role, each sensing a group of bit lines (docs/array-controller-protocol.md, sense groups).
    """
    if not 0 <= channel < MAX_READ_CHANNELS:
        raise ValueError(f"read channel {channel} outside 0 ... {MAX_READ_CHANNELS - 1}")
    return Role.READ_SMU.value if channel == 0 else f"{Role.READ_SMU.value}_{channel + 1}"


def parse_read_channel_key(key: str) -> int | None:
    """The 0-based channel of a key ``read_smu`` / ``read_smu_<n>`` (n = 2 ... 16), else None."""
    if key == Role.READ_SMU.value:
        return 0
    prefix = f"{Role.READ_SMU.value}_"
    suffix = key[len(prefix):] if key.startswith(prefix) else ""
    if not suffix.isdigit() or suffix.startswith("0"):
        return None
    channel = int(suffix) - 1
    return channel if 1 <= channel < MAX_READ_CHANNELS else None
