"""Hardware interlocks: refuse a command before any byte of it is sent."""

from __future__ import annotations

from labctl.core.errors import SafetyError


def refuse_above_limit(value_V: float, limit_V: float | None, what: str) -> None:
    """Raise :class:`SafetyError` if ``|value_V|`` exceeds ``limit_V`` (``None``: no limit)."""
    if limit_V is not None and not abs(value_V) <= limit_V:
        raise SafetyError(
            f"{what} of {value_V:g} V exceeds the station limit of {limit_V:g} V; nothing was sent"
        )
