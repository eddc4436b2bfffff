"""SCPI parsing and dispatch shared by the emulated SMUs and the row/column controller."""

from __future__ import annotations

import threading

import pytest

from labctl.sim.servers.scpi import (
    ErrorQueue,
    ScpiError,
    ScpiInstrument,
    compile_header,
    expect_params,
    parse_bits,
    parse_bool,
    parse_choice,
    parse_command,
    parse_float,
    parse_int,
    split_outside_quotes,
)


class Meter(ScpiInstrument):
    """A small SCPI instrument: one numeric setting, a counter and a reset."""

    def __init__(self) -> None:
        super().__init__(threading.RLock())
        self.nplc = 1.0
        self.calls: list[str] = []
        self.table.add(
            "[:SENSe]:CURRent[:DC]:NPLCycles", self._set_nplc, lambda p: f"{self.nplc:g}"
        )
        self.table.add(":SENSe:CURRent:RANGe:AUTO", lambda p: self.calls.append("auto"))
        self.table.add(":TRACe:STATistics:AVERage", on_query=lambda p: "0.5")

    def _set_nplc(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.nplc = parse_float(params[0], 0.01, 10.0)

    def identity(self) -> str:
        return "ACME,METER,1,1.0"

    def reset(self) -> None:
        self.nplc = 1.0


def test_split_ignores_separators_inside_quotes():
    assert split_outside_quotes(""":TRIG:LOAD "a;b", 5;*WAI""", ";") == [
        ':TRIG:LOAD "a;b", 5',
        "*WAI",
    ]
    assert split_outside_quotes("'x,y',z", ",") == ["'x,y'", "z"]


def test_parse_command_header_query_params_and_root():
    command = parse_command(':TRAC:DATA? 1, 10, "defbuffer1", READ')
    assert command is not None
    assert command.words == ("TRAC", "DATA")
    assert command.is_query and command.rooted
    assert command.params == ["1", "10", '"defbuffer1"', "READ"]
    common = parse_command(":*cls")
    assert common is not None and common.words == ("*CLS",) and common.rooted
    assert parse_command("   ") is None


@pytest.mark.parametrize("text", ["\ufffd\ufffd", "1ABC", "SENS::CURR", "A?B", "*"])
def test_malformed_headers_are_undefined(text):
    with pytest.raises(ScpiError) as info:
        parse_command(text)
    assert info.value.code == -113


def test_empty_parameter_is_missing():
    with pytest.raises(ScpiError) as info:
        parse_command(":SOUR:VOLT 1,,2")
    assert info.value.code == -109


def test_header_patterns_short_long_and_optional_nodes():
    meter = Meter()
    for header in (
        ":SENS:CURR:NPLC 2",
        ":sense:current:dc:nplcycles 3",
        "CURR:NPLC 4",
        ":SENSe:CURRent:DC:NPLC 5",
    ):
        meter.handle_line(header)
        assert meter.errors.pop() == '0,"No error"', header
    assert meter.nplc == 5.0
    assert meter.handle_line(":TRACe:STATistics:AVERage?") == "0.5"
    assert meter.handle_line(":trac:stat:aver?") == "0.5"
    meter.handle_line(":SENS:CURRE:NPLC 1")  # neither short nor long form
    assert meter.errors.pop().startswith("-113,")


def test_compound_line_with_relative_path_and_joined_responses():
    meter = Meter()
    reply = meter.handle_line(":SENS:CURR:NPLC 2;NPLC?;:SENS:CURR:RANG:AUTO 1;*IDN?;")
    assert reply == "2;ACME,METER,1,1.0"
    assert meter.calls == ["auto"]


def test_pymeasure_reset_line_is_accepted():
    meter = Meter()
    meter.nplc = 7.0
    assert meter.handle_line("*RST;:stat:pres;:*CLS;") is None
    assert meter.nplc == 1.0
    assert meter.errors.pop() == '0,"No error"'


def test_error_stops_the_rest_of_the_line_and_queues_one_entry():
    meter = Meter()
    assert meter.handle_line(":SENS:CURR:NPLC 99;:SENS:CURR:NPLC 2") is None
    assert meter.nplc == 1.0
    assert meter.errors.pop().startswith('-222,"Data out of range')
    assert meter.errors.pop() == '0,"No error"'


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("FOO:BAR 1", -113),
        ("FOO?", -113),
        (":SENS:CURR:NPLC", -109),
        (":SENS:CURR:NPLC 1, 2", -108),
        (":SENS:CURR:NPLC abc", -224),
        (":SENS:CURR:NPLC nan", -224),
        (":SENS:CURR:NPLC 11", -222),
        (":TRACe:STATistics:AVERage 1", -113),  # query-only header used as a command
    ],
)
def test_errors_by_kind(line, code):
    meter = Meter()
    assert meter.handle_line(line) is None
    entry = meter.errors.pop()
    assert entry.startswith(f"{code},"), entry
    assert meter.errors.pop() == '0,"No error"'


def test_error_queue_overflow_keeps_oldest_and_marks_the_last():
    queue = ErrorQueue(capacity=3)
    for _ in range(5):
        queue.push(ScpiError(-113))
    assert [queue.pop() for _ in range(4)] == [
        '-113,"Undefined header"',
        '-113,"Undefined header"',
        '-350,"Queue overflow"',
        '0,"No error"',
    ]


def test_error_detail_cannot_break_the_entry_format():
    entry = ScpiError(-224, 'bad "value", really').entry()
    assert entry == "-224,\"Illegal parameter value; bad 'value'  really\""


def test_common_commands_and_error_count():
    meter = Meter()
    meter.handle_line("BAD")
    assert meter.handle_line("SYST:ERR:COUN?") == "1"
    assert meter.handle_line("*STB?") == "4"
    assert meter.handle_line("*OPC?") == "1"
    meter.handle_line("*CLS")
    assert meter.handle_line(":SYSTem:ERRor:NEXT?") == '0,"No error"'
    meter.handle_line("*SRE 16")
    assert meter.handle_line("*SRE?") == "16"


def test_parameter_parsers():
    assert parse_int("12", 0, 20) == 12
    assert parse_int("12.0", 0, 20) == 12
    with pytest.raises(ScpiError, match="-224"):
        parse_int("1.5", 0, 20)
    assert parse_float("MAX", 0.0, 1.0, named={"MAXimum": 1.0}) == 1.0
    assert parse_float("maximum", named={"MAXimum": 1.0}) == 1.0
    assert parse_bool("on") is True and parse_bool("0") is False
    assert parse_choice("'CURR'", {"CURRent[:DC]": "C", "VOLTage[:DC]": "V"}) == "C"
    assert parse_choice('"curr:dc"', {"CURRent[:DC]": "C"}) == "C"
    assert parse_bits("0110", 4) == [False, True, True, False]
    with pytest.raises(ScpiError, match="-224"):
        parse_bits("012", 3)
    with pytest.raises(ScpiError, match="expected 4 bits"):
        parse_bits("011", 4)


def test_compile_header_forms():
    nodes = compile_header("[:SENSe]:NPLCycles")
    assert [(n.short, n.long, n.optional) for n in nodes] == [
        ("SENS", "SENSE", True),
        ("NPLC", "NPLCYCLES", False),
    ]
