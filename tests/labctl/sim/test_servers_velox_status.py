"""The emulated Velox's SCI status commands: chuck heights and status, prober status, kernel
version (response fields as in FormFactor's published SCI reference)."""

from __future__ import annotations

import pytest

from labctl.sim.servers.velox import VeloxInstrument
from labctl.sim.state import CHUCK_Z_UM, StationState
from labctl.sim.wafer import VirtualWafer


@pytest.fixture
def velox() -> VeloxInstrument:
    return VeloxInstrument(StationState(VirtualWafer(3)), serial="T")


def test_chuck_heights_are_the_gaps_the_moves_use(velox):
    code, *fields = velox.handle_line("ReadChuckHeights Y").split()
    contact, overtravel, align_gap, separation_gap, search_gap = map(float, fields)
    assert code == "0:"
    assert contact - align_gap == CHUCK_Z_UM["align"]
    assert contact - separation_gap == CHUCK_Z_UM["separation"]
    assert (overtravel, search_gap) == (0.0, 0.0)
    in_mils = velox.handle_line("ReadChuckHeights I").split()
    assert float(in_mils[4]) == pytest.approx(separation_gap / 25.4, abs=0.05)
    assert velox.handle_line("ReadChuckHeights Q").startswith("502:")


@pytest.mark.parametrize(
    ("move", "preset", "contact"),
    [
        ("MoveChuckContact", "C", "1"),
        ("MoveChuckAlign", "A", "0"),
        ("MoveChuckSeparation", "S", "0"),
    ],
)
def test_chuck_and_prober_status_follow_the_chuck_height(velox, move, preset, contact):
    assert velox.handle_line(move).startswith("0:")
    fields = velox.handle_line("ReadChuckStatus").split()
    assert fields[0] == "0:" and len(fields) == 12  # code + 11 response fields
    assert fields[7] == preset
    assert int(fields[2]) & 0b10000  # IsContactSet
    busy, in_contact, _, quiet = velox.handle_line("ReadProberStatus").split()[1:]
    assert (busy, in_contact, quiet) == ("0", contact, "0")


def test_kernel_version_and_argument_checks(velox):
    assert velox.handle_line("ReportKernelVersion").startswith("0: 3.70 ")
    assert velox.handle_line("ReportKernelVersion K").startswith("0: ")
    assert velox.handle_line("ReportKernelVersion X").startswith("502:")
    assert velox.handle_line("ReadChuckStatus 1").startswith("502:")
    assert velox.handle_line("MoveChuck 10 10 R J").startswith("502:")  # jogs: not modelled
