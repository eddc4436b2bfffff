"""The station's extra read channels (``[instruments.read_smu_2]`` ...): more 2450s in the read
SMU's role, each sensing its own group of bit lines while ``read_smu`` senses the first.

They live beside the four roles rather than as roles of their own, so a four-instrument station
is unchanged. Here they get what the read SMU gets: the station's limits and interlocks, the
read bias, the safe state (0 V, output off, read back) and a verified identification.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from drivers.keithley2450 import LabctlKeithley2450
from drivers.scpi import raise_queued_errors
from drivers.terminations import with_line_terminations
from labctl.core.errors import InstrumentError
from labctl.station.bias import Bias
from labctl.station.config import Limits, StationConfig
from labctl.station.connection import verified_identity
from labctl.station.limits import install_interlocks
from labctl.station.transport import RoleAdapter

log = logging.getLogger(__name__)


class ReadChannels:
    """Drivers of the extra read channels, in channel order (channel 1, 2, ...)."""

    def __init__(self, drivers: Sequence[LabctlKeithley2450], limits: Limits) -> None:
        self.drivers = tuple(drivers)
        for smu in self.drivers:
            smu.max_source_voltage_V = limits.max_read_voltage_V
            smu.max_current_limit_A = limits.compliance_current_A
        install_interlocks(self.drivers)
        self.identities: list[str] = []

    @classmethod
    def open(cls, config: StationConfig) -> ReadChannels:
        """Open and identify every extra read channel of ``config``; nothing stays open if one
        fails (the error names its key and resource)."""
        drivers: list[LabctlKeithley2450] = []
        try:
            for channel in config.read_channels:
                adapter = RoleAdapter(
                    channel.role, channel.resource, config.visa_library, key=channel.key,
                    **with_line_terminations({"timeout": round(channel.timeout_s * 1000)}),
                )
                drivers.append(LabctlKeithley2450(adapter, name=f"Keithley 2450 ({channel.key})"))
            channels = cls(drivers, config.limits)
            channels.identities = [verified_identity(smu) for smu in drivers]
        except BaseException:
            for smu in drivers:
                _close(smu)
            raise
        return channels

    def __len__(self) -> int:
        return len(self.drivers)

    def apply_bias(self, bias: Bias, limits: Limits) -> None:
        """Source the read voltage on every extra channel and switch its output on."""
        for smu in self.drivers:
            smu.configure_voltage_source(bias.read_voltage_V, limits.compliance_current_A,
                                         bias.nplc)
            smu.enable_source()
        for smu in self.drivers:
            raise_queued_errors(smu, f"{smu.name} bias")

    def safe_state(self) -> None:
        """0 V and output off on every channel, read back; every channel is tried, failures
        raised together."""
        failures = []
        for smu in self.drivers:
            try:
                if getattr(smu.adapter, "broken", False):
                    smu.adapter.reopen()
                smu.stop_buffer()
                smu.source_voltage = 0.0
                smu.disable_source()
                if smu.source_enabled:
                    raise InstrumentError("output still on after switching it off")
            except Exception as exc:  # every channel must be tried
                failures.append(f"{smu.name}: {exc}")
        if failures:
            raise InstrumentError("safe state incomplete: " + "; ".join(failures))

    def close(self) -> None:
        for smu in self.drivers:
            _close(smu)


def _close(smu: LabctlKeithley2450) -> None:
    try:
        smu.adapter.close()
    except Exception as exc:  # closing is best effort
        log.debug("closing %s: %s", smu.name, exc)
