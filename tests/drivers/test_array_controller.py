"""Byte-exact protocol tests of drivers.array_controller.ArrayController, interlocks included."""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.array_controller import ArrayController, bits_to_string
from labctl.core.errors import SafetyError


def test_identification_and_geometry() -> None:
    with expected_protocol(
        ArrayController,
        [
            ("*IDN?", "LABCTL,MTJ-ARRAY-CTRL,SIM-0,1.0"),
            ("NTIL?", "2"),
            ("GEOM? 0", "196,100"),
            ("GEOM? 1", "100,10"),
        ],
    ) as inst:
        assert inst.id == "LABCTL,MTJ-ARRAY-CTRL,SIM-0,1.0"
        assert inst.tile_count == 2
        assert inst.geometry(0) == (196, 100)
        assert inst.geometry(1) == (100, 10)


def test_selection_get_and_set() -> None:
    with expected_protocol(
        ArrayController,
        [
            ("TILE 1", None), ("TILE?", "1"),
            ("ROW 195", None), ("ROW?", "195"),
            ("COL 7", None), ("COL?", "7"),
        ],
    ) as inst:
        inst.tile = 1
        assert inst.tile == 1
        inst.row = 195
        assert inst.row == 195
        inst.column = 7
        assert inst.column == 7


@pytest.mark.parametrize(("name", "value"), [("tile", -1), ("row", 2.5), ("column", 70000)])
def test_selection_refuses_bad_indices_without_sending(name: str, value: object) -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(ValueError):
        setattr(inst, name, value)


def test_pulse_settings() -> None:
    with expected_protocol(
        ArrayController,
        [
            ("PULS:AMPL 0.8", None), ("PULS:AMPL?", "0.8"),
            ("PULS:WIDT 1e-08", None), ("PULS:WIDT?", "1e-08"),
        ],
    ) as inst:
        inst.pulse_amplitude = 0.8
        assert inst.pulse_amplitude == pytest.approx(0.8)
        inst.pulse_width = 10e-9
        assert inst.pulse_width == pytest.approx(1e-8)


@pytest.mark.parametrize(("name", "value"), [("pulse_amplitude", 2.5), ("pulse_width", 2e-3),
                                             ("pulse_width", 0.0), ("input_voltage", 0.6)])
def test_hardware_ranges_refused_without_sending(name: str, value: float) -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(ValueError):
        setattr(inst, name, value)


def test_routing_scan_and_inputs() -> None:
    with expected_protocol(
        ArrayController,
        [
            ("ROUT ON", None), ("ROUT?", "1"), ("ROUT OFF", None), ("ROUT?", "OFF"),
            ("SCAN:MODE TILE", None), ("SCAN:MODE?", "TILE"),
            ("SCAN:RES", None), ("SCAN:IDX?", "0"),
            ("INP:VOLT 0.1", None), ("INP:VOLT?", "0.1"),
            ("INP 1011", None),
            ("DESEL", None),
        ],
    ) as inst:
        inst.routed = True
        assert inst.routed is True
        inst.routed = False
        assert inst.routed is False
        inst.scan_mode = "TILE"
        assert inst.scan_mode == "TILE"
        inst.reset_scan()
        assert inst.scan_index == 0
        inst.input_voltage = 0.1
        assert inst.input_voltage == pytest.approx(0.1)
        inst.apply_inputs(np.array([True, False, True, True]))
        inst.deselect()


def test_scan_mode_refuses_unknown_modes() -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(ValueError):
        inst.scan_mode = "DIAGONAL"


def test_writes() -> None:
    with expected_protocol(
        ArrayController,
        [("PULS:AMPL 0.8", None), ("WRIT:CELL AP", None), ("WRIT:ROW 0110", None),
         ("WRIT:TILE P", None)],
    ) as inst:
        inst.pulse_amplitude = 0.8  # a write needs a known amplitude, station limit or not
        inst.write_cell("ap")
        inst.write_row([0, 1, 1, 0])
        inst.write_tile("P")


@pytest.mark.parametrize("bits", ["", "0120", [0, 2], [[0, 1]]])
def test_bad_bit_vectors_are_refused_without_sending(bits: object) -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(ValueError):
        inst.write_row(bits)  # type: ignore[arg-type]


def test_bits_to_string_accepts_strings_lists_and_arrays() -> None:
    assert bits_to_string("0101") == "0101"
    assert bits_to_string([True, False]) == "10"
    assert bits_to_string(np.array([0, 1, 1], dtype=np.uint8)) == "011"


def test_pulse_amplitude_above_station_limit_sends_nothing() -> None:
    with expected_protocol(ArrayController, [], max_write_voltage_V=1.0) as inst:
        with pytest.raises(SafetyError, match="exceeds the limit of 1 V"):
            inst.pulse_amplitude = 1.2
        with pytest.raises(SafetyError):
            inst.write("PULS:AMPL MAX")


def test_write_with_unknown_amplitude_sends_nothing() -> None:
    with (
        expected_protocol(ArrayController, [], max_write_voltage_V=1.0) as inst,
        pytest.raises(SafetyError, match="not set through the driver"),
    ):
        inst.write_cell("AP")


def test_write_after_amplitude_within_limit() -> None:
    with expected_protocol(
        ArrayController,
        [("PULS:AMPL 0.9", None), ("WRIT:TILE AP", None), ("DESEL", None)],
        max_write_voltage_V=1.0,
    ) as inst:
        inst.pulse_amplitude = 0.9
        inst.write_tile("AP")
        inst.deselect()
        inst.max_write_voltage_V = 0.5  # tightened: DESEL left the amplitude at 0 V
        with pytest.raises(SafetyError):
            inst.pulse_amplitude = 0.9


def test_write_refused_when_limit_tightened_below_the_set_amplitude() -> None:
    with expected_protocol(
        ArrayController, [("PULS:AMPL 0.9", None)], max_write_voltage_V=1.0
    ) as inst:
        inst.pulse_amplitude = 0.9
        inst.max_write_voltage_V = 0.5
        with pytest.raises(SafetyError):
            inst.write_row("0101")


def test_input_voltage_above_limit_sends_nothing() -> None:
    with (
        expected_protocol(ArrayController, [], max_input_voltage_V=0.2) as inst,
        pytest.raises(SafetyError),
    ):
        inst.input_voltage = 0.3


def test_errors_are_read_from_the_queue() -> None:
    with expected_protocol(
        ArrayController,
        [("SYST:ERR?", '-222,"Data out of range"'), ("SYST:ERR?", '0,"No error"')],
    ) as inst:
        assert inst.check_errors() == [[-222.0, '"Data out of range"']]


def test_input_batch_is_sent_in_lines_below_the_limit_and_counted() -> None:
    vectors = np.zeros((3, 4), dtype=bool)
    vectors[1, 0] = vectors[2, 3] = True
    with expected_protocol(
        ArrayController,
        [
            ("INP:BATC:CLE", None),
            ("INP:BATC 0000,1000,0001", None),
            ("INP:BATC:COUN?", "3"),
            ("SCAN:MODE BATCH", None),
        ],
    ) as inst:
        inst.clear_input_batch()
        assert inst.append_input_batch(vectors) == 3
        assert inst.input_batch_count == 3
        inst.scan_mode = "BATCH"


def test_a_long_batch_is_split_into_several_lines() -> None:
    rows = 196
    per_line = (65536 - 64) // (rows + 1)
    vectors = ["1" * rows] * (per_line + 2)
    with expected_protocol(
        ArrayController,
        [("INP:BATC " + ",".join(["1" * rows] * per_line), None),
         ("INP:BATC " + ",".join(["1" * rows] * 2), None)],
    ) as inst:
        inst.append_input_batch(vectors)


@pytest.mark.parametrize("command", [
    "INP:BATC 0101,011",  # vectors of different lengths
    "INP:BATC 0102",  # not bits
    "INP:BATC " + ",".join(["1"] * 1025),  # more than the batch memory holds
    "INP:BATC:CLE 1",  # no argument allowed
])
def test_malformed_batches_are_refused_without_sending(command: str) -> None:
    with expected_protocol(ArrayController, []) as inst, pytest.raises(SafetyError):
        inst.write(command)


def test_batch_helper_refuses_bad_vectors_without_sending() -> None:
    with expected_protocol(ArrayController, []) as inst:
        with pytest.raises(ValueError):
            inst.append_input_batch([])
        with pytest.raises(ValueError):
            inst.append_input_batch(["0101", "011"])
