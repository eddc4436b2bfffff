"""SCPI helpers: compound-command splitting, error-queue draining."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.array_controller import ArrayController
from drivers.scpi import describe_error, raise_queued_errors, segment_headers
from labctl.core.errors import InstrumentError


def test_segments_of_a_compound_command() -> None:
    assert segment_headers("*RST;:stat:pres;:*CLS;") == [(("*RST",), ""), (("STAT:PRES",), ""),
                                                         (("*CLS",), "")]
    assert segment_headers(':SOUR:VOLT:LEV 0.1; OUTPUT ON') == [
        (("SOUR:VOLT:LEV",), "0.1"), (("OUTPUT", "SOUR:VOLT:OUTPUT"), "ON")]
    assert segment_headers(":TRAC:DATA? 1, 3") == [(("TRAC:DATA?",), "1, 3")]


def test_a_relative_header_has_both_readings() -> None:
    assert segment_headers(":SOUR:VOLT:RANG 2;LEV 5")[1] == (("LEV", "SOUR:VOLT:LEV"), "5")


def test_describe_error() -> None:
    assert describe_error([-222.0, '"Data out of range"']) == "-222 Data out of range"
    assert describe_error([-113.0, '"Undefined', ' header"']) == "-113 Undefined, header"


def test_raise_queued_errors_drains_and_names_the_instrument() -> None:
    with expected_protocol(
        ArrayController,
        [("SYST:ERR?", '-224,"Illegal parameter value"'), ("SYST:ERR?", '-109,"Missing parameter"'),
         ("SYST:ERR?", '0,"No error"'), ("SYST:ERR?", '0,"No error"')],
    ) as inst:
        with pytest.raises(InstrumentError) as info:
            raise_queued_errors(inst, "selecting")
        assert str(info.value) == ("MTJ array controller: selecting: -224 Illegal parameter "
                                   "value; -109 Missing parameter")
        raise_queued_errors(inst, "again")  # empty queue: nothing raised
