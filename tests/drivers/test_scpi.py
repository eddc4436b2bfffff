"""SCPI helpers: compound-command splitting, numeric arguments, error-queue draining."""

from __future__ import annotations

import math

import pytest
from pymeasure.test import expected_protocol

from drivers.array_controller import ArrayController
from drivers.scpi import describe_error, parse_number, raise_queued_errors, scpi_segments
from labctl.core.errors import InstrumentError


def test_segments_of_a_compound_command() -> None:
    assert scpi_segments("*RST;:stat:pres;:*CLS;") == [("*RST", ""), ("STAT:PRES", ""),
                                                       ("*CLS", "")]
    assert scpi_segments(':SOUR:VOLT:LEV 0.1; OUTPUT ON') == [("SOUR:VOLT:LEV", "0.1"),
                                                               ("OUTPUT", "ON")]
    assert scpi_segments(":TRAC:DATA? 1, 3") == [("TRAC:DATA?", "1, 3")]


@pytest.mark.parametrize(("argument", "value"), [("0.25", 0.25), (" -1e-3 ", -1e-3),
                                                 ("DEF", 0.0), ("max", math.inf),
                                                 ("nan", math.inf), ("", math.inf)])
def test_parse_number_treats_the_unknown_as_unbounded(argument: str, value: float) -> None:
    assert parse_number(argument) == value


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
