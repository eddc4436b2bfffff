"""Station: limits applied to the drivers, safe state (exact byte order), bias, status."""

from __future__ import annotations

import pytest
from conftest import FakeBench
from safe_state_commands import SAFE_STATE

from labctl.core.errors import InstrumentError, SafetyError

BIAS = [
    ("gate_smu", ":SOUR:FUNC VOLT;:SOUR:VOLT:RANG:AUTO 1;:SOUR:VOLT:ILIM 0.01;"
                 ":SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SENS:CURR:NPLC 0.5;:SOUR:VOLT:LEV 1.2"),
    ("gate_smu", "OUTPUT ON"),
    ("read_smu", ":SOUR:FUNC VOLT;:SOUR:VOLT:RANG:AUTO 1;:SOUR:VOLT:ILIM 0.01;"
                 ":SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SENS:CURR:NPLC 0.5;:SOUR:VOLT:LEV 0.1"),
    ("read_smu", "OUTPUT ON"),
    ("gate_smu", "SYST:ERR?"),
    ("read_smu", "SYST:ERR?"),
]


def test_safe_state_byte_order(fake_bench: FakeBench) -> None:
    fake_bench.station.safe_state()
    assert fake_bench.log.entries == SAFE_STATE


def test_safe_state_is_idempotent(fake_bench: FakeBench) -> None:
    fake_bench.station.safe_state()
    fake_bench.station.safe_state()
    assert fake_bench.log.entries == SAFE_STATE + SAFE_STATE


def test_safe_state_tries_every_instrument_then_reports_all_failures(
    fake_bench: FakeBench,
) -> None:
    fake_bench.log.failing = {"read_smu": {"OUTPUT OFF"}, "controller": {"DESEL"}}
    with pytest.raises(InstrumentError) as info:
        fake_bench.station.safe_state()
    message = str(info.value)
    assert "read_smu: output off" in message
    assert "controller: deselect" in message
    read_smu_attempt = [("read_smu", ":ABOR"), ("read_smu", ":SOUR:VOLT:LEV 0")]
    gate_and_prober = [entry for entry in SAFE_STATE if entry[0] in ("gate_smu", "prober")]
    # Each failing instrument is taken through its sequence three times, from the start; the
    # gate SMU and the prober are still brought to safety.
    assert fake_bench.log.entries == read_smu_attempt * 3 + gate_and_prober


def test_safe_state_fails_when_an_output_reads_back_on(fake_bench: FakeBench) -> None:
    fake_bench.replies["gate_smu"]["OUTPUT?"] = "1"  # e.g. the OUTPUT OFF was lost
    with pytest.raises(InstrumentError, match="gate_smu: output off read back"):
        fake_bench.station.safe_state()
    assert fake_bench.log.of("gate_smu") == [":ABOR", ":SOUR:VOLT:LEV 0", "OUTPUT OFF",
                                             "OUTPUT?"] * 3


def test_station_limits_reach_the_drivers(fake_bench: FakeBench) -> None:
    station = fake_bench.station
    assert station.read_smu.max_source_voltage_V == station.limits.max_read_voltage_V
    assert station.gate_smu.max_source_voltage_V == station.limits.max_gate_voltage_V
    assert station.controller.max_write_voltage_V == station.limits.max_write_voltage_V
    with pytest.raises(SafetyError):
        station.read_smu.source_voltage = station.limits.max_read_voltage_V * 1.5
    with pytest.raises(SafetyError):
        station.gate_smu.source_voltage = station.limits.max_gate_voltage_V + 0.1
    with pytest.raises(SafetyError):
        station.controller.pulse_amplitude = station.limits.max_write_voltage_V + 0.1
    assert fake_bench.log.entries == []


def test_ensure_bias_configures_once_until_safe_state(fake_bench: FakeBench) -> None:
    station = fake_bench.station
    station.ensure_bias(nplc=0.5)
    station.ensure_bias(nplc=0.5)
    assert fake_bench.log.entries == BIAS
    assert station.bias is not None and station.bias.read_voltage_V == pytest.approx(0.1)
    station.safe_state()
    assert station.bias is None
    station.ensure_bias(nplc=0.5)
    assert fake_bench.log.entries == BIAS + SAFE_STATE + BIAS


def test_ensure_bias_reports_queued_errors(fake_bench: FakeBench) -> None:
    responses = iter(['-222,"Data out of range"', '0,"No error"'])
    fake_bench.replies["read_smu"]["SYST:ERR?"] = lambda: next(responses)
    with pytest.raises(InstrumentError, match="-222 Data out of range"):
        fake_bench.station.ensure_bias()
    assert fake_bench.station.bias is None


def test_identify_returns_each_idn(fake_bench: FakeBench) -> None:
    assert fake_bench.station.identify() == {
        "prober": "FormFactor,Velox,FAKE,1.0",
        "read_smu": "KEITHLEY INSTRUMENTS,MODEL 2450,FAKE1,1.0",
        "gate_smu": "KEITHLEY INSTRUMENTS,MODEL 2450,FAKE2,1.0",
        "controller": "LABCTL,MTJ-ARRAY-CTRL,FAKE,1.0",
    }


def test_context_manager_exit_brings_safe_state_then_closes(fake_bench: FakeBench) -> None:
    with fake_bench.station:
        pass
    closes = [(role, "<close>") for role in ("prober", "read_smu", "gate_smu", "controller")]
    assert fake_bench.log.entries == SAFE_STATE + closes


def test_context_manager_keeps_the_original_error(fake_bench: FakeBench) -> None:
    fake_bench.log.failing = {"prober": {"MoveChuckSeparation 100"}}
    with pytest.raises(KeyError), fake_bench.station:
        raise KeyError("procedure failed")
    assert fake_bench.log.entries[-1] == ("controller", "<close>")


def test_status_summarises_each_instrument(fake_bench: FakeBench) -> None:
    replies = fake_bench.replies
    for smu in ("read_smu", "gate_smu"):
        replies[smu].update({"OUTPUT?": "0", ":SOUR:VOLT?": "0", ":SOUR:VOLT:ILIM?": "0.01"})
    replies["controller"].update(
        {"NTIL?": "2", "TILE?": "0", "ROW?": "5", "COL?": "7", "ROUT?": "0"}
    )
    del replies["prober"]["ReadMapPosition"]  # a prober that does not answer this query
    status = fake_bench.station.status()
    assert status["read_smu"] == "output off, 0 V, limit 0.01 A, no errors"
    assert status["controller"] == "2 tiles, tile 0 row 5 col 7, routing off, no errors"
    assert status["prober"].startswith("no map position")
    assert status["prober"].endswith("chuck separated (z -300 um)")
