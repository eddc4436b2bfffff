"""Byte-exact protocol tests of drivers.velox.LabctlVelox."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.velox import LabctlVelox, ProberReplyError
from labctl.core.errors import InstrumentError


def test_map_position_returns_column_and_row() -> None:
    with expected_protocol(LabctlVelox, [("ReadMapPosition", "0: 3 1 -5000.0 2500.0 0 1")]) as inst:
        assert inst.map_position == (3, 1)


def test_chuck_position_returns_x_y_z_in_micrometre() -> None:
    reply = "0: 100.5 -20.0 -300.0"
    with expected_protocol(LabctlVelox, [("ReadChuckPosition Y Z", reply)]) as inst:
        assert inst.chuck_position == (100.5, -20.0, -300.0)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("0: 1.0 2.0 0.0", True), ("0: 1.0 2.0 -0.2", True), ("0: 1.0 2.0 -50.0", False)],
)
def test_in_contact_means_chuck_at_contact_height(reply: str, expected: bool) -> None:
    with expected_protocol(LabctlVelox, [("ReadChuckPosition Y Z", reply)]) as inst:
        assert inst.in_contact is expected


def test_step_to_die_returns_the_reply() -> None:
    with expected_protocol(LabctlVelox, [("StepNextDie 4 2", "0: 4 2 0 1")]) as inst:
        assert inst.step_to_die(4, 2) == (4, 2, 0, 1)


@pytest.mark.parametrize(("col", "row"), [(-1, 0), (0, -3), (1.5, 0), (True, 0)])
def test_step_to_die_refuses_bad_positions_without_sending(col: object, row: object) -> None:
    with expected_protocol(LabctlVelox, []) as inst, pytest.raises(ValueError):
        inst.step_to_die(col, row)  # type: ignore[arg-type]


def test_error_reply_raises_a_labctl_instrument_error() -> None:
    with expected_protocol(LabctlVelox, [("StepNextDie 9 9", "502: Invalid parameter")]) as inst:
        with pytest.raises(ProberReplyError, match="502: Invalid parameter") as info:
            inst.step_to_die(9, 9)
        assert isinstance(info.value, InstrumentError)
        assert isinstance(info.value, ConnectionError)  # still what PyMeasure's Velox raises
        assert inst.error_code == 502


def test_end_of_wafer_map_is_a_status_not_an_error() -> None:
    with expected_protocol(LabctlVelox, [("StepNextDie", "703: End of wafer map")]) as inst:
        inst.wafermap.step_next_die()
        assert inst.wafermap.end_reached is True
        assert inst.error_code == 703


def test_inherited_pymeasure_commands_keep_their_bytes() -> None:
    with expected_protocol(
        LabctlVelox,
        [
            ("*IDN?", "FormFactor,Velox,SIM-0,3.70"),
            ("StepFirstDie", "0: 2 0 0 1"),
            ("MoveChuckContact 100", "0: 0.0"),
            ("MoveChuckSeparation 100", "0: -300.0"),
            ("ReportSoftwareVersion", "0: 3.70.0"),
        ],
    ) as inst:
        assert inst.id == "FormFactor,Velox,SIM-0,3.70"
        assert inst.wafermap.step_first_die() == [2, 0, 0, 1]
        assert inst.chuck.move_contact() == "0.0"
        assert inst.chuck.move_separation() == "-300.0"
        assert inst.version == "3.70.0"
