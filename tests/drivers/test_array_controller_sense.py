"""Byte-exact protocol of the controller's sense groups, scan lists and cell-list writes, with
their allow-list checks (nothing is sent when a check refuses)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.array_controller import MAX_SCAN_LIST_CELLS, ArrayController
from labctl.core.errors import SafetyError


def test_sense_groups_and_scan_list() -> None:
    with expected_protocol(
        ArrayController,
        [
            ("SENS:GRO 4", None), ("SENS:GRO?", "4"),
            ("SCAN:LIST 0,1,195,99", None), ("SCAN:LIST:COUN?", "2"),
            ("SCAN:MODE LIST", None),
        ],
    ) as inst:
        inst.sense_groups = 4
        assert inst.sense_groups == 4
        inst.set_scan_list([(0, 1), (195, 99)])
        assert inst.scan_list_count == 2
        inst.scan_mode = "LIST"


def test_cell_list_write_uses_absolute_headers() -> None:
    with expected_protocol(
        ArrayController,
        [
            ("PULS:AMPL 0.8", None),
            (":ROW 3;:COL 5;:WRIT:CELL AP;:ROW 130;:COL 0;:WRIT:CELL AP", None),
        ],
        max_write_voltage_V=1.0,
    ) as inst:
        inst.pulse_amplitude = 0.8
        inst.write_cells([(3, 5), (130, 0)], "ap")


@pytest.mark.parametrize("command", [
    "SENS:GRO 0", "SENS:GRO 17", "SENS:GRO 2.5", "SCAN:LIST 1,2,3", "SCAN:LIST 1,-2",
    "SCAN:LIST " + ",".join(["1,1"] * (MAX_SCAN_LIST_CELLS + 1)),
])
def test_out_of_range_arguments_are_refused_without_sending(command: str) -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(SafetyError):
        inst.write(command)


def test_cell_writes_need_the_amplitude_first() -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(SafetyError):
        inst.write_cells([(0, 0)], "P")


@pytest.mark.parametrize("groups", [0, 17])
def test_sense_group_setter_validates(groups: int) -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(ValueError):
        inst.sense_groups = groups
