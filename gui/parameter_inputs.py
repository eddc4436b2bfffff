"""Input widgets generated from a PyMeasure procedure's Parameters (its units become suffixes).

Float parameters use pyqtgraph's SpinBox with SI prefixes, so 100e-9 s reads and types as
``100 ns``; ranges come from the parameter's minimum and maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from typing import Any

import pyqtgraph as pg
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from labctl.core.errors import ConfigError
from procedures.base import procedure_parameters

__all__ = ["ParameterForm", "procedure_parameters"]


class ParameterForm(QWidget):
    """One labelled input per parameter; :meth:`values` returns them converted and checked."""

    def __init__(self, parameters: dict[str, Parameter], exclude: Iterable[str] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        skip = set(exclude)
        self._parameters = {n: p for n, p in parameters.items() if n not in skip}
        self._inputs: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for name, parameter in self._parameters.items():
            widget = _input_for(parameter)
            widget.setObjectName(f"param-{name}")
            tip = getattr(parameter, "description", None)
            if tip:
                widget.setToolTip(str(tip))
            layout.addRow(str(parameter.name), widget)
            self._inputs[name] = widget

    def names(self) -> list[str]:
        return list(self._inputs)

    def input(self, name: str) -> QWidget:
        return self._inputs[name]

    def set_value(self, name: str, value: Any) -> None:
        widget = self._inputs[name]
        if isinstance(widget, pg.SpinBox):
            widget.setValue(float(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            index = widget.findText(str(value))
            if index < 0:
                raise ConfigError(f"{name}: {value!r} is not one of the choices")
            widget.setCurrentIndex(index)
        elif isinstance(widget, QLineEdit):
            widget.setText(str(value))

    def values(self) -> dict[str, Any]:
        """Name -> value, converted by each Parameter (ConfigError names a bad one)."""
        result: dict[str, Any] = {}
        for name, widget in self._inputs.items():
            parameter = self._parameters[name]
            raw = _raw_value(widget)
            try:
                probe = deepcopy(parameter)
                probe.value = raw
                result[name] = probe.value
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{parameter.name}: {exc}") from exc
        return result


def _input_for(parameter: Parameter) -> QWidget:
    default = parameter.value if parameter.is_set() else parameter.default
    units = getattr(parameter, "units", None) or ""
    if isinstance(parameter, BooleanParameter):
        box = QCheckBox()
        box.setChecked(bool(default))
        return box
    if isinstance(parameter, ListParameter):
        combo = QComboBox()
        combo.addItems([str(c) for c in parameter.choices or ()])
        if default is not None:
            combo.setCurrentText(str(default))
        return combo
    if isinstance(parameter, IntegerParameter):
        spin = QSpinBox()
        spin.setRange(parameter.minimum, parameter.maximum)
        if parameter.step:
            spin.setSingleStep(parameter.step)
        if units:
            spin.setSuffix(f" {units}")
        spin.setValue(int(default if default is not None else parameter.minimum))
        return spin
    if isinstance(parameter, FloatParameter):
        spin = pg.SpinBox(value=float(default if default is not None else parameter.minimum),
                          bounds=(parameter.minimum, parameter.maximum), suffix=units,
                          siPrefix=bool(units), dec=True, step=0.5, minStep=1e-12,
                          decimals=4, compactHeight=False)
        return spin
    edit = QLineEdit("" if default is None else str(default))
    return edit


def _raw_value(widget: QWidget) -> Any:
    if isinstance(widget, pg.SpinBox):
        return float(widget.value())
    if isinstance(widget, QSpinBox):
        return widget.value()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QLineEdit):
        return widget.text()
    raise TypeError(f"no value for {type(widget).__name__}")

