"""The sweep spec: read from the procedure's Parameters, bounds from procedures.settings, values
checked naming the setting, and resolved given > stored > station operating point > default."""

from __future__ import annotations

import pytest

from labctl.core.errors import ConfigError
from labctl.services.sweep.spec import MANAGED_PARAMETERS, sweep_spec
from labctl.station.config import SIM_STATION_FILE, load_station_config
from procedures import settings as S
from procedures.wafer_sweep import WaferSweepProcedure

LIMITS = load_station_config(SIM_STATION_FILE).limits


def test_every_parameter_but_the_managed_ones_is_a_setting() -> None:
    spec = sweep_spec()
    names = [s.name for s in spec]
    assert names[:6] == ["cycles", "read_voltage", "write_voltage", "write_width", "nplc",
                         "batching"]
    assert {"retry_attempts", "retry_backoff", "max_gate_leakage", "checkpoint_interval",
            "wafer_id", "max_consecutive_failures"} <= set(names)
    assert not set(MANAGED_PARAMETERS) & set(names)
    assert spec.procedure_class is WaferSweepProcedure


@pytest.mark.parametrize(("name", "bounds"), [
    ("cycles", S.CYCLES_RANGE), ("read_voltage", S.READ_VOLTAGE_RANGE_V),
    ("write_voltage", S.WRITE_VOLTAGE_RANGE_V), ("write_width", S.WRITE_WIDTH_RANGE_S),
    ("nplc", S.NPLC_RANGE), ("retry_attempts", S.RETRY_ATTEMPTS_RANGE),
    ("retry_backoff", S.RETRY_BACKOFF_RANGE_S), ("max_gate_leakage", S.GATE_LEAKAGE_RANGE_A),
    ("checkpoint_interval", S.CHECKPOINT_INTERVAL_RANGE_S),
    ("max_consecutive_failures", S.CONSECUTIVE_FAILURES_RANGE),
])
def test_bounds_are_the_settings_constants(name: str, bounds: tuple[float, float]) -> None:
    assert sweep_spec()[name].bounds == bounds


def test_si_names_say_what_is_measured_and_what_the_station_defaults() -> None:
    spec = sweep_spec()
    assert spec["write_width"].field == "write_width_s"
    assert spec["max_gate_leakage"].field == "max_gate_leakage_A"
    assert [s.name for s in spec if s.measured] == [
        "cycles", "read_voltage", "write_voltage", "write_width", "nplc", "batching",
        "adaptive", "precise_nplc"]
    assert [s.name for s in spec if s.station_default] == [
        "read_voltage", "write_voltage", "write_width"]


@pytest.mark.parametrize(("values", "message"), [
    ({"retry_attempts": 0}, "retry_attempts = 0 is outside 1 ... 10"),
    ({"read_voltage": 2.0}, "read_voltage = 2 V is outside 0.001 ... 1 V"),
    ({"nplc": float("nan")}, "nplc must be a finite number"),
    ({"cycles": 2.5}, "cycles must be a whole number"),
    ({"batching": "cell"}, "batching must be one of tile, row"),
    ({"max_gate_leakage": "x"}, "max_gate_leakage must be a number"),
    ({"speed": 1}, "the sweep has no setting 'speed'"),
])
def test_bad_values_name_the_setting(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace(".", r"\.")):
        sweep_spec().check(values)


def test_resolve_given_then_stored_then_station_then_default() -> None:
    spec = sweep_spec()
    stored = {"cycles": 4, "read_voltage_V": 0.05, "batching": "row"}
    values = spec.resolve({"cycles": 1, "retry_attempts": 5}, LIMITS, stored)
    assert values["cycles"] == 1 and values["retry_attempts"] == 5  # given
    assert values["read_voltage"] == 0.05 and values["batching"] == "row"  # stored
    assert values["write_voltage"] == LIMITS.write_voltage_V  # the station's operating point
    assert values["nplc"] == spec["nplc"].default and values["wafer_id"] == ""
    assert spec.characterisation(values).read_voltage_V == 0.05
    assert spec.run_values(values) == {k: values[k] for k in (
        "retry_attempts", "retry_backoff", "max_gate_leakage", "checkpoint_interval",
        "wafer_id", "max_consecutive_failures")}
