"""Procedure parameters become typed inputs with units; values convert back and are checked."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
    Procedure,
)
from PyQt6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from gui.parameter_inputs import ParameterForm, procedure_parameters
from labctl.core.errors import ConfigError
from procedures.wafer_sweep import WaferSweepProcedure


class Demo(Procedure):
    width = FloatParameter("Pulse width", units="s", default=100e-9, minimum=1e-9, maximum=1e-3)
    count = IntegerParameter("Count", default=3, minimum=1, maximum=9)
    mode = ListParameter("Mode", choices=["row", "tile"], default="tile")
    flag = BooleanParameter("Flag", default=True)
    label = Parameter("Label", default="x")


@pytest.fixture
def form(qtbot):
    widget = ParameterForm(procedure_parameters(Demo), exclude=["label"])
    qtbot.addWidget(widget)
    return widget


def test_each_parameter_type_gets_its_input(form):
    assert form.names() == ["width", "count", "mode", "flag"]
    assert isinstance(form.input("width"), pg.SpinBox)
    assert isinstance(form.input("count"), QSpinBox)
    assert isinstance(form.input("mode"), QComboBox)
    assert isinstance(form.input("flag"), QCheckBox)
    assert form.input("width").text().replace(" ", "") == "100ns"  # SI prefix and unit


def test_values_round_trip(form):
    assert form.values() == {"width": pytest.approx(100e-9), "count": 3, "mode": "tile",
                             "flag": True}
    form.set_value("width", 2e-6)
    form.set_value("count", 5)
    form.set_value("mode", "row")
    form.set_value("flag", False)
    assert form.values() == {"width": pytest.approx(2e-6), "count": 5, "mode": "row",
                             "flag": False}


def test_ranges_come_from_the_parameters(form):
    form.set_value("count", 50)
    assert form.values()["count"] == 9
    with pytest.raises(ConfigError, match="not one of the choices"):
        form.set_value("mode", "cell")


def test_a_value_the_parameter_rejects_is_a_config_error(qtbot):
    class Strict(Procedure):
        number = IntegerParameter("Number", default=1, minimum=0, maximum=5)
        text = Parameter("Text", default="a")

    form = ParameterForm(procedure_parameters(Strict))
    qtbot.addWidget(form)
    assert isinstance(form.input("text"), QLineEdit)
    form.input("number").setMaximum(99)  # widget allows more than the parameter does
    form.set_value("number", 42)
    with pytest.raises(ConfigError, match="Number"):
        form.values()


def test_the_sweep_procedure_parameters_are_all_offered():
    names = procedure_parameters(WaferSweepProcedure)
    for expected in ("cycles", "read_voltage", "write_voltage", "write_width", "nplc",
                     "batching", "dies", "output_file"):
        assert expected in names
    assert names["read_voltage"].units == "V"
