"""The sweep's settings, declared once: the PyMeasure Parameters of the sweep procedure.

`labctl sweep`'s options, the GUI's run-control inputs and the defaults of `reproduce` are all
generated from a :class:`SweepSpec`, so a Parameter added to
:class:`~procedures.wafer_sweep.WaferSweepProcedure` (its bounds taken from the constants of
``procedures.settings``) is offered everywhere without another line. Each setting also has an SI
name (``read_voltage`` in V -> ``read_voltage_V``): the field of ``CharacterisationSettings`` and
of the station's ``Limits`` it matches, and its key in the wafer file's stored settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)

from labctl.core.errors import ConfigError
from labctl.station.config import Limits
from procedures.base import procedure_parameters
from procedures.settings import CharacterisationSettings
from procedures.wafer_sweep import WaferSweepProcedure

#: Parameters a sweep request sets itself (its output, dies and resume) or that a service run
#: never uses (the procedure's own station file: the service connects the station).
MANAGED_PARAMETERS = ("dies", "output_file", "station_file", "resume")

_MEASURED_FIELDS = frozenset(f.name for f in fields(CharacterisationSettings))
_LIMIT_FIELDS = frozenset(f.name for f in fields(Limits))


@dataclass(frozen=True)
class SweepSetting:
    """One setting of a sweep, read from its Parameter."""

    name: str
    parameter: Parameter

    @property
    def label(self) -> str:
        return str(self.parameter.name)

    @property
    def units(self) -> str:
        return str(getattr(self.parameter, "units", None) or "")

    @property
    def kind(self) -> type:
        """The Python type of a value: int, float, bool or str."""
        if isinstance(self.parameter, BooleanParameter):
            return bool
        if isinstance(self.parameter, IntegerParameter):
            return int
        if isinstance(self.parameter, FloatParameter):
            return float
        return str

    @property
    def default(self) -> Any:
        return self.parameter.default

    @property
    def bounds(self) -> tuple[float, float] | None:
        if isinstance(self.parameter, (IntegerParameter, FloatParameter)):
            return self.parameter.minimum, self.parameter.maximum
        return None

    @property
    def choices(self) -> tuple[Any, ...] | None:
        if isinstance(self.parameter, ListParameter):
            return tuple(self.parameter.choices or ())
        return None

    @property
    def description(self) -> str:
        return str(getattr(self.parameter, "description", None) or self.label)

    @property
    def field(self) -> str:
        """The SI name: ``name`` with its unit appended (``write_width`` -> ``write_width_s``)."""
        return f"{self.name}_{self.units}" if self.units else self.name

    @property
    def measured(self) -> bool:
        """Whether it defines what is measured (stored in the file, fixed on resume)."""
        return self.field in _MEASURED_FIELDS

    @property
    def station_default(self) -> bool:
        """Whether it defaults to the station's operating point (a ``Limits`` field)."""
        return self.field in _LIMIT_FIELDS

    def check(self, value: Any) -> Any:
        """``value`` converted to the setting's type; ConfigError naming the setting if not
        acceptable."""
        kind = self.kind
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{self.name} must be true or false, got {value!r}")
            return value
        if kind is str:
            text = str(value)
            choices = self.choices
            if choices is not None and text not in choices:
                raise ConfigError(f"{self.name} must be one of {', '.join(map(str, choices))}, "
                                  f"got {value!r}")
            return text
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{self.name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{self.name} must be a finite number, got {value!r}")
        if kind is int and int(value) != value:
            raise ConfigError(f"{self.name} must be a whole number, got {value!r}")
        number = kind(value)
        if self.bounds is not None:
            low, high = self.bounds
            unit = f" {self.units}" if self.units else ""
            if not low <= number <= high:
                raise ConfigError(f"{self.name} = {number:g}{unit} is outside "
                                  f"{low:g} ... {high:g}{unit}")
        return number


@dataclass(frozen=True)
class SweepSpec:
    """Every setting of a sweep procedure class, in declaration order."""

    procedure_class: type[WaferSweepProcedure]
    settings: Mapping[str, SweepSetting]

    @classmethod
    def of(cls, procedure_class: type[WaferSweepProcedure] = WaferSweepProcedure) -> SweepSpec:
        settings = {
            name: SweepSetting(name, parameter)
            for name, parameter in procedure_parameters(procedure_class).items()
            if name not in MANAGED_PARAMETERS
        }
        return cls(procedure_class, settings)

    def __iter__(self) -> Iterator[SweepSetting]:
        return iter(self.settings.values())

    def __contains__(self, name: object) -> bool:
        return name in self.settings

    def __getitem__(self, name: str) -> SweepSetting:
        return self.settings[name]

    def parameters(self) -> dict[str, Parameter]:
        """Name -> Parameter of every setting (what the GUI builds its inputs from)."""
        return {s.name: s.parameter for s in self}

    def check(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The given values converted; ConfigError naming an unknown or bad setting."""
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name not in self.settings:
                raise ConfigError(f"the sweep has no setting {name!r}")
            checked[name] = self.settings[name].check(value)
        return checked

    def resolve(
        self, given: Mapping[str, Any], limits: Limits, stored: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A value for every setting: the given one, else the one ``stored`` in the wafer file
        (by SI name, for a resume), else the station's operating point, else the default."""
        checked = self.check(given)
        resolved: dict[str, Any] = {}
        for setting in self:
            if setting.name in checked:
                resolved[setting.name] = checked[setting.name]
            elif stored is not None and setting.measured and setting.field in stored:
                resolved[setting.name] = setting.check(stored[setting.field])
            elif setting.station_default:
                resolved[setting.name] = setting.check(getattr(limits, setting.field))
            else:
                resolved[setting.name] = setting.default
        return resolved

    def characterisation(self, values: Mapping[str, Any]) -> CharacterisationSettings:
        """The characterisation settings of resolved ``values`` (ConfigError if invalid)."""
        return CharacterisationSettings(
            **{s.field: values[s.name] for s in self if s.measured}
        )

    def run_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Only the values that do not define what is measured (what a resume may change)."""
        return {k: v for k, v in values.items() if k in self.settings
                and not self.settings[k].measured}


def sweep_spec() -> SweepSpec:
    """The spec of :class:`~procedures.wafer_sweep.WaferSweepProcedure`."""
    return SweepSpec.of(WaferSweepProcedure)
