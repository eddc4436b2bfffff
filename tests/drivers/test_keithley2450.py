"""Byte-exact protocol tests of drivers.keithley2450.LabctlKeithley2450, interlocks included."""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.keithley2450 import LabctlKeithley2450
from labctl.core.errors import InstrumentError, SafetyError

CONFIGURE_0V1 = (
    ":SOUR:FUNC VOLT;:SOUR:VOLT:RANG:AUTO 1;:SOUR:VOLT:ILIM 0.0001;"
    ":SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SENS:CURR:NPLC 0.1;:SOUR:VOLT:LEV 0.1"
)


@pytest.mark.parametrize(("reply", "tripped"), [("1", True), ("0", False)])
def test_compliance_tripped(reply: str, tripped: bool) -> None:
    with expected_protocol(LabctlKeithley2450, [(":SOUR:VOLT:ILIM:TRIP?", reply)]) as inst:
        assert inst.compliance_tripped is tripped


def test_compliance_current_get_and_set() -> None:
    with expected_protocol(
        LabctlKeithley2450, [(":SOUR:VOLT:ILIM 0.001", None), (":SOUR:VOLT:ILIM?", "0.001")]
    ) as inst:
        assert inst.current_limit_set is False
        inst.compliance_current = 1e-3
        assert inst.current_limit_set is True
        assert inst.compliance_current == pytest.approx(1e-3)


@pytest.mark.parametrize("limit_A", [0.0, -1e-3, 2.0])
def test_compliance_current_out_of_range_is_refused_without_sending(limit_A: float) -> None:
    with expected_protocol(LabctlKeithley2450, []) as inst, pytest.raises(ValueError):
        inst.compliance_current = limit_A


def test_configure_voltage_source_is_one_message() -> None:
    with expected_protocol(LabctlKeithley2450, [(CONFIGURE_0V1, None)]) as inst:
        inst.configure_voltage_source(0.1, 1e-4, nplc=0.1)
        assert inst.current_limit_set is True


def test_enable_source_without_current_limit_sends_nothing() -> None:
    with expected_protocol(LabctlKeithley2450, []) as inst:
        with pytest.raises(SafetyError, match="no current limit"):
            inst.enable_source()
        with pytest.raises(SafetyError):
            inst.write("OUTP ON")  # any path through the driver is interlocked
        with pytest.raises(SafetyError):
            inst.write(":SOUR:VOLT:ILIM 0;:OUTPUT:STATE 1")  # a zero limit is no limit


def test_enable_source_after_current_limit_and_level() -> None:
    with expected_protocol(
        LabctlKeithley2450,
        [(":SOUR:VOLT:ILIM 0.0001", None), (":SOUR:VOLT:LEV 0.1", None), ("OUTPUT ON", None)],
    ) as inst:
        inst.compliance_current = 1e-4
        with pytest.raises(SafetyError, match="source level unknown"):
            inst.enable_source()  # with or without station limits: the ceiling applies
        inst.source_voltage = 0.1
        inst.enable_source()


def test_reset_forgets_the_current_limit() -> None:
    with expected_protocol(
        LabctlKeithley2450, [(":SOUR:VOLT:ILIM 0.0001", None), ("*RST;:stat:pres;:*CLS;", None)]
    ) as inst:
        inst.compliance_current = 1e-4
        inst.reset()
        with pytest.raises(SafetyError):
            inst.enable_source()


def test_source_level_above_station_limit_sends_nothing() -> None:
    with expected_protocol(LabctlKeithley2450, [], max_source_voltage_V=0.2) as inst:
        with pytest.raises(SafetyError, match=r"exceeds the limit of 0\.2 V"):
            inst.source_voltage = 0.25
        with pytest.raises(SafetyError):
            inst.source_voltage = -0.3
        with pytest.raises(SafetyError):
            inst.configure_voltage_source(1.0, 1e-4)
        with pytest.raises(SafetyError):
            inst.write(":SOUR:VOLT MAX")


def test_source_level_within_limit_is_sent() -> None:
    with expected_protocol(
        LabctlKeithley2450, [(":SOUR:VOLT:LEV 0.2", None), (":SOUR:VOLT:LEV -0.1", None)],
        max_source_voltage_V=0.2,
    ) as inst:
        inst.source_voltage = 0.2
        inst.source_voltage = -0.1


def test_output_needs_a_known_level_within_the_limit() -> None:
    with expected_protocol(
        LabctlKeithley2450,
        [(":SOUR:VOLT:ILIM 0.0001", None), (":SOUR:VOLT:LEV 0.1", None), ("OUTPUT ON", None)],
        max_source_voltage_V=0.2,
    ) as inst:
        inst.compliance_current = 1e-4
        with pytest.raises(SafetyError, match="source level unknown"):
            inst.enable_source()
        inst.source_voltage = 0.1
        inst.enable_source()
        inst.max_source_voltage_V = 0.05  # limit tightened after the level was set
        with pytest.raises(SafetyError):
            inst.enable_source()


def test_disable_source_is_always_allowed() -> None:
    with expected_protocol(
        LabctlKeithley2450, [("OUTPUT OFF", None)], max_source_voltage_V=0.1
    ) as inst:
        inst.disable_source()


def test_buffered_current_acquisition_is_one_round_trip() -> None:
    with expected_protocol(
        LabctlKeithley2450,
        [
            (':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 3', None),
            (":INIT;*WAI", None),
            (':TRAC:DATA? 1, 3, "defbuffer1", READ', "1.5E-05,-2.0E-12,3.25e-05"),
        ],
    ) as inst:
        inst.configure_buffered_current(3)
        readings = inst.acquire_buffer()
    assert readings.dtype == np.float64
    np.testing.assert_array_equal(readings, [1.5e-5, -2e-12, 3.25e-5])


def test_read_buffer_of_a_given_length() -> None:
    with expected_protocol(
        LabctlKeithley2450, [(':TRAC:DATA? 1, 2, "defbuffer1", READ', "1e-6,2e-6")]
    ) as inst:
        np.testing.assert_array_equal(inst.read_buffer(2), [1e-6, 2e-6])


@pytest.mark.parametrize("reply", ["1e-6", "1e-6,abc", ""])
def test_read_buffer_with_wrong_or_bad_data_raises(reply: str) -> None:
    with expected_protocol(
        LabctlKeithley2450, [(':TRAC:DATA? 1, 2, "defbuffer1", READ', reply)]
    ) as inst, pytest.raises(InstrumentError):
        inst.read_buffer(2)


@pytest.mark.parametrize("n_points", [0, 100_001, 2.5, True])
def test_configure_buffered_current_refuses_bad_counts(n_points: object) -> None:
    with expected_protocol(LabctlKeithley2450, []) as inst, pytest.raises(ValueError):
        inst.configure_buffered_current(n_points)  # type: ignore[arg-type]


def test_acquire_without_configuration_sends_nothing() -> None:
    with expected_protocol(LabctlKeithley2450, []) as inst, pytest.raises(RuntimeError):
        inst.acquire_buffer()


def test_inherited_measurement_commands_keep_their_bytes() -> None:
    with expected_protocol(
        LabctlKeithley2450,
        [
            (":SENS:FUNC 'CURR';:SENS:CURR:NPLC 0.500000;", None),
            (":SENS:CURR:RANG:AUTO 1;", None),
            ("SYST:ERR?", '0,"No error"'),
            (":READ?", "2.5e-05"),
            ("OUTPUT?", "0"),
            (":SENS:CURR:NPLC?", "0.5"),
            ("SYST:ERR?", '-113,"Undefined header"'),
            ("SYST:ERR?", '0,"No error"'),
        ],
    ) as inst:
        inst.measure_current(nplc=0.5)
        assert inst.current == pytest.approx(2.5e-5)
        assert inst.source_enabled is False
        assert inst.current_nplc == pytest.approx(0.5)
        assert inst.check_errors() == [[-113.0, '"Undefined header"']]
