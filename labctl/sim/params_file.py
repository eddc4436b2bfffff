"""SimParams from a TOML file, and SimParams <-> a JSON-able dict (to store with a wafer file).

A parameter file is a flat TOML table of SimParams field names (data/sim-params/example.toml
lists every one with its default and unit); fields left out keep their defaults. Unknown keys,
values of the wrong type and values out of range are refused with a ConfigError that names the
file and the key, so nobody runs a wafer on a silently ignored typo.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from labctl.core.errors import ConfigError
from labctl.sim.params import SimParams

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_FIELD_NAMES = tuple(field.name for field in fields(SimParams))


def load_sim_params(path: str | Path) -> SimParams:
    """The SimParams a TOML file describes (defaults for the fields it leaves out)."""
    source = Path(path)
    try:
        with source.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read simulator parameters: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    return sim_params_from_dict(document, source=str(source))


def sim_params_to_dict(params: SimParams) -> dict[str, Any]:
    """Every field of `params` as plain JSON types (tile_shapes as a list of [rows, cols])."""
    out = asdict(params)
    out["tile_shapes"] = [list(shape) for shape in params.tile_shapes]
    return out


def sim_params_from_dict(values: Mapping[str, Any], source: str = "sim params") -> SimParams:
    """SimParams from a mapping such as sim_params_to_dict's (missing fields: defaults).

    `source` names where the values came from (a file, a wafer file's attribute) in errors.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a table of simulator parameters, got {values!r}")
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELD_NAMES:
            raise ConfigError(
                f"{source}: unknown simulator parameter {key!r} "
                f"(known: see data/sim-params/example.toml)"
            )
        kwargs[key] = (
            _tile_shapes(value, source) if key == "tile_shapes" else _number(key, value, source)
        )
    try:
        return SimParams(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _number(key: str, value: object, source: str) -> float:
    """A finite int or float (not a bool, not a string), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source}: {key} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{source}: {key} must be finite, got {value!r}")
    return float(value)


def _tile_shapes(value: object, source: str) -> tuple[tuple[int, int], ...]:
    """[[rows, cols], ...] as a tuple of int pairs (SimParams checks them further)."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{source}: tile_shapes must be a list of [rows, cols], got {value!r}")
    shapes = []
    for shape in value:
        if not isinstance(shape, (list, tuple)) or len(shape) != 2:
            raise ConfigError(f"{source}: tile_shapes entries must be [rows, cols], got {shape!r}")
        rows, cols = shape
        if any(isinstance(n, bool) or not isinstance(n, int) for n in (rows, cols)):
            raise ConfigError(
                f"{source}: tile_shapes entries must be integers, got {list(shape)!r}"
            )
        shapes.append((rows, cols))
    return tuple(shapes)
