"""Every labctl driver opens its VISA resource with ``\\n`` terminations both ways."""

from __future__ import annotations

from typing import Any

import pytest
from pymeasure.adapters import ProtocolAdapter
from pymeasure.instruments import instrument as pymeasure_instrument

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from drivers.terminations import with_line_terminations
from drivers.velox import LabctlVelox


@pytest.mark.parametrize("driver", [LabctlVelox, LabctlKeithley2450, ArrayController])
def test_resource_opened_with_newline_terminations(
    driver: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: dict[str, Any] = {}

    def fake_visa_adapter(resource: str, **kwargs: Any) -> ProtocolAdapter:
        opened.update(kwargs, resource=resource)
        return ProtocolAdapter([])

    monkeypatch.setattr(pymeasure_instrument, "VISAAdapter", fake_visa_adapter)
    driver("TCPIP::127.0.0.1::5025::SOCKET", timeout=1500)
    assert opened["resource"] == "TCPIP::127.0.0.1::5025::SOCKET"
    assert opened["read_termination"] == "\n"
    assert opened["write_termination"] == "\n"
    assert opened["timeout"] == 1500


def test_explicit_termination_wins() -> None:
    assert with_line_terminations({"read_termination": "\r"}) == {
        "read_termination": "\r",
        "write_termination": "\n",
    }
