"""array_ops against recording fakes: the exact command sequence and the arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeBench

from labctl.core.errors import InstrumentError, SafetyError
from labctl.core.geometry import READ_CAP_OHM
from labctl.station import array_ops
from labctl.station.array_ops import resistance_from_current_ohm

BIAS_0V1 = [
    ("gate_smu", ":SOUR:FUNC VOLT;:SOUR:VOLT:RANG:AUTO 1;:SOUR:VOLT:ILIM 0.01;"
                 ":SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SENS:CURR:NPLC 0.1;:SOUR:VOLT:LEV 1.2"),
    ("gate_smu", "OUTPUT ON"),
    ("read_smu", ":SOUR:FUNC VOLT;:SOUR:VOLT:RANG:AUTO 1;:SOUR:VOLT:ILIM 0.01;"
                 ":SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;:SENS:CURR:NPLC 0.1;:SOUR:VOLT:LEV 0.1"),
    ("read_smu", "OUTPUT ON"),
    ("gate_smu", "SYST:ERR?"),
    ("read_smu", "SYST:ERR?"),
]


def _with_geometry(bench: FakeBench, rows: int, cols: int) -> None:
    bench.replies["controller"]["GEOM? 0;GEOM? 0"] = f"{rows},{cols};{rows},{cols}"


def fetch(n: int) -> str:
    """The verified fetch: readings, count, the instrument's average, compliance flag."""
    return f':TRAC:DATA? 1, {n}, "defbuffer1", READ;:TRAC:ACT?;:TRAC:STAT:AVER?;' \
        ":SOUR:VOLT:ILIM:TRIP?"


def _with_buffer(bench: FakeBench, currents: list[float], tripped: bool = False,
                 average: float | None = None) -> None:
    n = len(currents)
    mean = float(np.mean(currents)) if average is None else average
    bench.replies["read_smu"][fetch(n)] = (
        ",".join(f"{c:.6e}" for c in currents) + f";{n};{mean:.6e};{int(tripped)}"
    )


def test_resistance_is_capped_at_noise_level() -> None:
    r = resistance_from_current_ohm(0.1, [25e-6, -25e-6, 1e-14, -3e-15, 0.0])
    np.testing.assert_allclose(r, [4000.0, 4000.0, READ_CAP_OHM, READ_CAP_OHM,
                                   READ_CAP_OHM])
    assert np.isfinite(r).all()


def test_tile_read_is_one_acquisition(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 2, 3)
    currents = [25e-6, 10e-6, 1e-13, 50e-6, 20e-6, 12.5e-6]
    _with_buffer(fake_bench, currents)
    r = array_ops.read_tile_resistance_ohm(fake_bench.station, 0)
    assert r.shape == (2, 3)
    np.testing.assert_allclose(r, [[4e3, 1e4, 1e12], [2e3, 5e3, 8e3]], rtol=1e-6)
    assert fake_bench.log.entries == [
        ("controller", "GEOM? 0;GEOM? 0"),
        *BIAS_0V1,
        ("controller", "TILE 0"),
        ("controller", "SCAN:MODE TILE"),
        ("controller", "SCAN:RES"),
        ("controller", "ROUT ON"),
        ("controller", "SYST:ERR?"),
        ("read_smu", ':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 6'),
        ("read_smu", ":INIT;*WAI"),
        ("read_smu", fetch(6)),
    ]
    queries = [cmd for _, cmd in fake_bench.log.entries if "?" in cmd]
    assert len(queries) == 5  # geometry (once), 2 bias checks (once), 1 barrier, 1 data


def test_second_tile_read_reuses_geometry_and_bias(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 1, 2)
    _with_buffer(fake_bench, [25e-6, 25e-6])
    array_ops.read_tile_resistance_ohm(fake_bench.station, 0)
    fake_bench.log.entries.clear()
    array_ops.read_tile_resistance_ohm(fake_bench.station, 0)
    queries = [cmd for _, cmd in fake_bench.log.entries if "?" in cmd]
    assert queries == ["SYST:ERR?", fetch(2)]


def test_row_read(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 4, 2)
    _with_buffer(fake_bench, [20e-6, 40e-6])
    r = array_ops.read_row_resistance_ohm(fake_bench.station, 0, 3)
    np.testing.assert_allclose(r, [5e3, 2.5e3])
    controller = fake_bench.log.of("controller")
    assert controller[-6:] == ["TILE 0", "ROW 3", "SCAN:MODE ROW", "SCAN:RES", "ROUT ON",
                               "SYST:ERR?"]


def test_cell_read(fake_bench: FakeBench) -> None:
    _with_buffer(fake_bench, [8e-6])
    r = array_ops.read_cell_resistance_ohm(fake_bench.station, 1, 5, 7, nplc=1.0)
    assert r == pytest.approx(12500.0)
    assert fake_bench.log.of("controller")[-7:] == [
        "TILE 1", "ROW 5", "COL 7", "SCAN:MODE CELL", "SCAN:RES", "ROUT ON", "SYST:ERR?"
    ]
    assert ":SENS:CURR:NPLC 1;" in fake_bench.log.of("read_smu")[0]


def test_write_tile(fake_bench: FakeBench) -> None:
    array_ops.write_tile(fake_bench.station, 1, "ap")
    assert fake_bench.log.entries[: len(BIAS_0V1)] == BIAS_0V1  # word lines powered first
    assert fake_bench.log.of("controller") == [
        "TILE 1", "PULS:AMPL 0.8", "PULS:WIDT 5e-08", "WRIT:TILE AP", "SYST:ERR?"
    ]


def test_write_row_checks_the_bit_count(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 2, 4)
    array_ops.write_row(fake_bench.station, 0, 1, [1, 0, 0, 1], amplitude_V=0.9, width_s=1e-7)
    assert fake_bench.log.of("controller")[-6:] == [
        "TILE 0", "PULS:AMPL 0.9", "PULS:WIDT 1e-07", "ROW 1", "WRIT:ROW 1001", "SYST:ERR?"
    ]
    with pytest.raises(ValueError, match="4 columns, got 3 bits"):
        array_ops.write_row(fake_bench.station, 0, 1, "101")


def test_write_cell(fake_bench: FakeBench) -> None:
    array_ops.write_cell(fake_bench.station, 0, 2, 3, "P")
    assert fake_bench.log.of("controller") == [
        "TILE 0", "PULS:AMPL 0.8", "PULS:WIDT 5e-08", "ROW 2", "COL 3", "WRIT:CELL P",
        "SYST:ERR?",
    ]


def test_write_above_station_limit_sends_no_pulse(fake_bench: FakeBench) -> None:
    with pytest.raises(SafetyError):
        array_ops.write_cell(fake_bench.station, 0, 0, 0, "AP", amplitude_V=1.5)
    assert not any(cmd.startswith(("PULS:AMPL", "WRIT")) for cmd in fake_bench.log.of("controller"))


def test_bad_target_state(fake_bench: FakeBench) -> None:
    with pytest.raises(ValueError, match="'P' or 'AP'"):
        array_ops.write_tile(fake_bench.station, 0, "up")
    assert fake_bench.log.entries == []


def test_inference_holds_bit_lines_at_zero_volt(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 3, 2)
    _with_buffer(fake_bench, [1e-5, 2e-5])
    currents = array_ops.infer_bitline_currents_A(fake_bench.station, 0, [1, 0, 1])
    np.testing.assert_allclose(currents, [1e-5, 2e-5])
    assert fake_bench.log.of("controller")[1:4] == ["TILE 0", "INP:VOLT 0.1", "INP 101"]
    assert "SCAN:MODE INFER" in fake_bench.log.of("controller")
    assert fake_bench.log.of("read_smu")[0].endswith(":SOUR:VOLT:LEV 0")
    with pytest.raises(ValueError, match="3 rows, got 2 input bits"):
        array_ops.infer_bitline_currents_A(fake_bench.station, 0, [1, 0])


def test_inference_reports_a_clamped_bit_line(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 3, 2)
    _with_buffer(fake_bench, [1e-2, 2e-5], tripped=True)
    with pytest.raises(InstrumentError, match=r"reached the read SMU's limit of 0\.01 A"):
        array_ops.infer_bitline_currents_A(fake_bench.station, 0, "111")
    assert fake_bench.log.of("read_smu")[-1] == fetch(2)  # the flag came with the data


def test_inference_voltage_above_read_limit_is_refused(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 3, 2)
    with pytest.raises(SafetyError):
        array_ops.infer_bitline_currents_A(fake_bench.station, 0, "101", input_voltage_V=0.3)
    assert not any(cmd.startswith("INP") for cmd in fake_bench.log.of("controller"))


def test_a_clamped_reading_is_not_a_resistance(fake_bench: FakeBench) -> None:
    _with_geometry(fake_bench, 1, 2)
    _with_buffer(fake_bench, [1e-2, 2e-5], tripped=True)
    with pytest.raises(array_ops.ComplianceTripped, match="current limit"):
        array_ops.read_tile_resistance_ohm(fake_bench.station, 0)


@pytest.mark.parametrize(
    "garble",
    [
        lambda text: text.replace("2.000000e-05", "2.000000e-08"),  # a digit: average differs
        lambda text: text.replace(";2;", ";3;"),  # the count
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace("e-05", "e#05"),  # a noise byte
        lambda text: text.rsplit(";", 1)[0] + ";7",  # the compliance flag
    ],
)
def test_garbled_buffer_replies_are_refused(fake_bench: FakeBench, garble) -> None:
    _with_geometry(fake_bench, 1, 2)
    _with_buffer(fake_bench, [2.5e-5, 2e-5])
    key = fetch(2)
    fake_bench.replies["read_smu"][key] = garble(fake_bench.replies["read_smu"][key])
    with pytest.raises(InstrumentError):
        array_ops.read_tile_resistance_ohm(fake_bench.station, 0)


def test_geometry_replies_must_agree(fake_bench: FakeBench) -> None:
    fake_bench.replies["controller"]["GEOM? 0;GEOM? 0"] = "196,100;196,700"
    with pytest.raises(InstrumentError, match="inconsistent"):
        fake_bench.station.tile_shape(0)
    fake_bench.replies["controller"]["GEOM? 0;GEOM? 0"] = "196,100;196,100"
    assert fake_bench.station.tile_shape(0) == (196, 100)
