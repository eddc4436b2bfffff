"""The study grid (a TOML file, docs/study.md) and its points.

    [study]
    name = "shorts"
    modes = ["unaware", "statistics-aware"]   # trained at every point (ideal is the baseline)

    [training]
    preset = "study"            # quick | study | default (labctl.study.settings)
    ideal_epochs = 5            # any TrainConfig / PipelineOptions field, or `dies`

    [sim]                       # fixed simulator parameters of every point (SimParams fields)
    defect_rate_good_median = 0.005

    [axes]                      # every combination is a point
    "sim.r_short_median_ohm" = [50.0, 1000.0]
    "training.statistics_epochs" = [1.0, 2.0]
    mode = ["unaware", ["statistics-aware", "hardware-aware"]]   # optional: modes per point
    wafer_seed = [0, 1, 2]
    train_seed = [0, 1, 2]

A point's id is a hash of its axis values, so it stays the same when other values are added to
an axis; everything outside [axes] is the study's fixed part, which a results folder records
(and refuses to mix with another).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.core.errors import ConfigError
from labctl.study.settings import check_training_keys, resolve_training
from labctl.study.sim_values import check_sim_keys, make_sim_params
from labctl.training.pipeline import MODE_ORDER

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SIM_PREFIX = "sim."
TRAINING_PREFIX = "training."
SEED_AXES = ("wafer_seed", "train_seed")
MODE_AXIS = "mode"
_TABLES = {"study", "training", "sim", "axes"}


def trainable_modes() -> tuple[str, ...]:
    """Modes a point can train (the pipeline's, without ideal, which is always the baseline)."""
    return tuple(m for m in MODE_ORDER if m != "ideal")


@dataclass(frozen=True)
class PointSpec:
    """Everything a worker needs to compute one point (plain values, cheap to send)."""

    point_id: str
    axes: dict[str, Any]
    modes: tuple[str, ...]
    preset: str
    training: dict[str, Any]
    sim: dict[str, Any]
    wafer_seed: int
    train_seed: int
    measured: bool = False


@dataclass(frozen=True)
class StudyGrid:
    name: str
    modes: tuple[str, ...]
    preset: str
    training: dict[str, Any]
    sim: dict[str, Any]
    axes: dict[str, tuple[Any, ...]]
    path: Path | None = None
    measured: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(self.axes)

    def all_modes(self) -> tuple[str, ...]:
        """Every mode some point trains, in pipeline order (the table's columns)."""
        wanted = set(self.modes)
        for value in self.axes.get(MODE_AXIS, ()):
            wanted.update(_modes_of(value))
        return tuple(m for m in trainable_modes() if m in wanted)

    def fixed_part(self) -> dict[str, Any]:
        """What every point shares: a results folder holds points of one fixed part only."""
        return {
            "modes": list(self.modes),
            "preset": self.preset,
            "training": self.training,
            "sim": self.sim,
            "axes": list(self.axes),
            "measured": self.measured,
        }

    def points(self) -> list[PointSpec]:
        """Every combination of axis values, in axis order (the last axis varies fastest)."""
        out = []
        for combo in itertools.product(*self.axes.values()):
            values = dict(zip(self.axes, combo, strict=True))
            sim = dict(self.sim)
            training = dict(self.training)
            for name, value in values.items():
                if name.startswith(SIM_PREFIX):
                    sim[name[len(SIM_PREFIX):]] = value
                elif name.startswith(TRAINING_PREFIX):
                    training[name[len(TRAINING_PREFIX):]] = value
            modes = _modes_of(values[MODE_AXIS]) if MODE_AXIS in values else self.modes
            out.append(
                PointSpec(
                    point_id=point_id(values),
                    axes=values,
                    modes=modes,
                    preset=self.preset,
                    training=training,
                    sim=sim,
                    wafer_seed=int(values.get("wafer_seed", 0)),
                    train_seed=int(values.get("train_seed", 0)),
                    measured=self.measured,
                )
            )
        return out

    def check_points(self) -> None:
        """Build every point's SimParams and training settings once: bad values fail here, not
        on a worker an hour later."""
        for spec in self.points():
            make_sim_params(spec.sim)
            resolve_training(spec.preset, spec.training, spec.train_seed)


def point_id(axis_values: Mapping[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of the axis values."""
    text = json.dumps(dict(axis_values), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_grid(path: str | Path, quick: bool = False, measured: bool = False) -> StudyGrid:
    """Parse and check a grid file. `quick` swaps the preset for "quick" and drops the fixed
    training overrides (training axes still apply); `measured` sweeps each wafer."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the grid {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    grid = parse_grid(raw, path, quick=quick, measured=measured)
    grid.check_points()
    return grid


def parse_grid(
    raw: Mapping[str, Any], path: Path | None = None, quick: bool = False, measured: bool = False
) -> StudyGrid:
    where = str(path or "grid")
    unknown = sorted(set(raw) - _TABLES)
    if unknown:
        raise ConfigError(f"{where}: unknown table(s) {unknown}; expected {sorted(_TABLES)}")
    study = _table(raw, "study", where)
    training = dict(_table(raw, "training", where))
    sim = dict(_table(raw, "sim", where))
    axes_raw = _table(raw, "axes", where)

    unknown_study = sorted(set(study) - {"name", "modes"})
    if unknown_study:
        raise ConfigError(f"{where}: [study] takes name and modes, not {unknown_study}")
    modes = _modes_of(study.get("modes", ["unaware", "statistics-aware"]))
    preset = str(training.pop("preset", "study"))
    if quick:
        preset, training = "quick", {}
    check_training_keys(training, f"{where} [training]")
    check_sim_keys(sim, f"{where} [sim]")

    axes: dict[str, tuple[Any, ...]] = {}
    for name, values in axes_raw.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: axis {name!r} needs a non-empty list of values")
        if name.startswith(SIM_PREFIX):
            check_sim_keys({name[len(SIM_PREFIX):]: None}, f"{where} axis {name!r}")
        elif name.startswith(TRAINING_PREFIX):
            check_training_keys({name[len(TRAINING_PREFIX):]: None}, f"{where} axis {name!r}")
        elif name in SEED_AXES:
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
                raise ConfigError(f"{where}: {name} values must be integers >= 0")
        elif name == MODE_AXIS:
            for value in values:
                _modes_of(value)
        else:
            raise ConfigError(
                f"{where}: unknown axis {name!r}; axes are sim.<SimParams field>, "
                f"training.<setting>, wafer_seed, train_seed and mode"
            )
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ConfigError(f"{where}: axis {name!r} repeats a value")
        axes[name] = tuple(values)
    return StudyGrid(
        name=str(study.get("name", path.stem if path else "study")),
        modes=modes,
        preset=preset,
        training=training,
        sim=sim,
        axes=axes,
        path=path,
        measured=measured,
        raw=dict(raw),
    )


def _table(raw: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def _modes_of(value: object) -> tuple[str, ...]:
    modes = [value] if isinstance(value, str) else value
    if not isinstance(modes, list) or not modes or not all(isinstance(m, str) for m in modes):
        raise ConfigError(f"modes must be a mode name or a list of them, got {value!r}")
    unknown = [m for m in modes if m not in trainable_modes()]
    if unknown:
        raise ConfigError(f"unknown mode(s) {unknown}; choose from {list(trainable_modes())}")
    return tuple(m for m in trainable_modes() if m in modes)
