"""The emulated Velox prober: raw SCI replies and PyMeasure's unmodified Velox driver."""

# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters)

from __future__ import annotations

import pytest
from pymeasure.instruments.formfactor.velox import Velox
from sim_fixtures import pymeasure_open, raw, station  # noqa: F401 (fixtures)

from labctl.core.wafer_map import WAFER_MAP
from labctl.sim.state import DIE_PITCH_UM


def test_identification_and_version(raw):
    prober = raw["prober"]
    assert prober.query("*IDN?").startswith("FormFactor GmbH,Velox,")
    assert ":" not in prober.query("*IDN?")  # Velox.read would parse it as a code otherwise
    assert prober.query("ReportSoftwareVersion") == "0: 3.70.0.0"
    assert prober.query("IsAppRegistered WaferMap") == "0: 1"
    assert prober.query("IsAppRegistered Spectrum") == "0: 0"


def test_stepping_visits_every_die_in_map_order_then_703(raw, station):
    prober = raw["prober"]
    visited = [prober.query("StepFirstDie")]
    while True:
        reply = prober.query("StepNextDie")
        if not reply.startswith("0:"):
            break
        visited.append(reply)
    assert reply == "703: End of wafer map"
    assert visited == [f"0: {col} {row} 0 1" for col, row in WAFER_MAP]
    assert prober.query("StepNextDie") == "703: End of wafer map"  # stays at the end
    assert station.state.die_position == WAFER_MAP[-1]


def test_pymeasure_velox_walks_the_wafer(station, pymeasure_open):
    prober = pymeasure_open(Velox, station.resources["prober"])
    assert prober.wafermap.enabled is True
    assert prober.version == "3.70.0.0"
    coordinates = prober.wafermap.step_first_die()
    seen = []
    while not prober.wafermap.end_reached:
        seen.append(tuple(coordinates[:2]))
        prober.chuck.move_contact()
        assert station.state.in_contact
        prober.chuck.move_separation()
        coordinates = prober.wafermap.step_next_die()
    assert seen == list(WAFER_MAP)
    assert prober.error_code == 703
    prober.wafermap.step_to_die(4, 2)
    assert station.state.die_position == (4, 2)


def test_pymeasure_velox_chuck_index_and_errors(station, pymeasure_open):
    prober = pymeasure_open(Velox, station.resources["prober"])
    assert prober.chuck.index == [DIE_PITCH_UM, DIE_PITCH_UM]
    prober.chuck.index = (12000.0, 9000.0)  # SetChuckIndex, reply checked by the driver
    assert prober.chuck.index == [12000.0, 9000.0]
    with pytest.raises(ConnectionError, match="502"):
        prober.wafermap.step_to_die(0, 0)  # not on the map
    with pytest.raises(ConnectionError, match="501"):
        prober.ask("MoveChuckSideways 1")


def test_heights_and_contact_need_a_die_site(raw, station):
    prober = raw["prober"]
    assert prober.query("StepNextDie 3 1") == "0: 3 1 0 1"
    assert prober.query("ReadMapPosition") == "0: 3 1 45000.0 15000.0 0 1"
    assert prober.query("MoveChuckAlign") == "0: -50.0"
    assert not station.state.in_contact
    assert prober.query("MoveChuckContact 50") == "0: 0.0"
    assert prober.query("ReadChuckPosition Y Z") == "0: 45000.0 15000.0 0.0"
    assert station.state.in_contact
    # Any XY move separates first; between dies the probes touch nothing.
    assert prober.query("MoveChuck 100 0 R Y") == "0: 45100.0 15000.0"
    assert prober.query("ReadChuckPosition") == "0: 45100.0 15000.0 -300.0"
    prober.query("MoveChuckContact")
    assert station.state.die_position is None and not station.state.in_contact
    # Index moves land on die sites again.
    assert prober.query("MoveChuckIndex 5 3 H") == "0: 75000.0 45000.0"
    prober.query("MoveChuckContact")
    assert station.state.die_position == (5, 3)
    assert prober.query("StepNextDie") == "0: 6 3 0 1"  # the sequence follows the move


def test_wrong_index_misses_the_pads(raw, station):
    prober = raw["prober"]
    assert prober.query("SetChuckIndex 14000 15000 Y") == "0:"
    prober.query("StepNextDie 3 1")
    prober.query("MoveChuckContact")
    assert not station.state.in_contact


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("NoSuchCommand", "501: Unknown command NoSuchCommand"),
        ("\ufffd\ufffd", "501: Unknown command \ufffd\ufffd"),
        ("MoveChuckContact 0", "502"),
        ("MoveChuckContact 101", "502"),
        ("MoveChuckContact fast", "502"),
        ("StepNextDie 3", "502"),
        ("StepNextDie 3 1 1", "502"),
        ("StepNextDie 9 9", "502"),
        ("StepNextDie a b", "502"),
        ("SetChuckIndex -1 5", "502"),
        ("SetChuckIndex 1 5 Q", "502"),
        ("ReadChuckPosition Y Y Y Y", "502"),
        ("MoveChuck 1 2 Q", "502"),
        ("IsAppRegistered", "502"),
    ],
)
def test_bad_commands_get_velox_error_codes(raw, line, reply):
    prober = raw["prober"]
    assert prober.query(line).startswith(reply)
    assert prober.query("ReadChuckIndex Y") == f"0: {DIE_PITCH_UM:.1f} {DIE_PITCH_UM:.1f}"


def test_malformed_bytes_long_lines_and_silent_commands(raw):
    prober = raw["prober"]
    prober.send(b"\xff\xfe\xfd\n")
    assert prober.readline().startswith("501: Unknown command")
    prober.send(b"A" * 200_000 + b"\n")
    assert prober.readline() == "502: Invalid parameter (command too long)"
    prober.send(b"\n\n*RST\n*CLS\n")
    assert prober.query("*OPC?") == "1"
