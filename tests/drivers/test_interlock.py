"""The shared interlock check."""

from __future__ import annotations

import math

import pytest

from drivers.interlock import refuse_above_limit
from labctl.core.errors import SafetyError


def test_within_the_limit_passes() -> None:
    refuse_above_limit(0.5, 0.5, "level")
    refuse_above_limit(-0.5, 0.5, "level")
    refuse_above_limit(100.0, None, "level")  # no limit configured


@pytest.mark.parametrize("value", [0.51, -0.6, math.inf, math.nan])
def test_above_the_limit_is_refused(value: float) -> None:
    with pytest.raises(SafetyError, match=r"level of .* V exceeds the station limit of 0\.5 V"):
        refuse_above_limit(value, 0.5, "level")
