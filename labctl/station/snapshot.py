"""What a measurement file records about the station that measured it (its ``station`` attribute):
the station file's content and every instrument's identification."""

from __future__ import annotations

from typing import Any

from labctl.core.roles import ROLES
from labctl.station.station import Station


def station_snapshot(station: Station) -> dict[str, Any]:
    """Station configuration and instrument IDNs (asked now if not all known), plain JSON types."""
    config = station.config
    identities = station.identities
    if len(identities) != len(ROLES):
        identities = station.identify()
    return {
        "name": config.name,
        "visa_library": config.visa_library,
        "limits": {key: getattr(config.limits, key) for key in vars(config.limits)},
        "instruments": {
            str(role): {"driver": inst.driver, "resource": inst.resource,
                        "timeout_s": inst.timeout_s}
            for role, inst in config.instruments.items()
        },
        "idn": {str(role): idn for role, idn in identities.items()},
    }
