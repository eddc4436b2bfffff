"""Simulator parameters of a point: SimParams' defaults with the grid's values on top.

Keys are SimParams' fields (the same names a `--sim-params` file takes); unknown keys are
refused and SimParams itself range-checks the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from labctl.core.errors import ConfigError
from labctl.sim.params import SimParams


def sim_field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(SimParams))


def check_sim_keys(values: Mapping[str, Any], where: str) -> None:
    """ConfigError naming unknown simulator parameters."""
    unknown = sorted(set(values) - set(sim_field_names()))
    if unknown:
        raise ConfigError(
            f"{where}: unknown simulator parameter(s) {', '.join(unknown)} "
            f"(fields of SimParams, docs/model.md)"
        )


def make_sim_params(values: Mapping[str, Any]) -> SimParams:
    """SimParams with `values` replaced; ConfigError for unknown keys or out-of-range values."""
    check_sim_keys(values, "simulator parameters")
    converted = dict(values)
    if "tile_shapes" in converted:
        shapes = converted["tile_shapes"]
        if not isinstance(shapes, (list, tuple)):
            raise ConfigError(f"tile_shapes must be a list of [rows, cols], got {shapes!r}")
        converted["tile_shapes"] = tuple(
            tuple(s) if isinstance(s, (list, tuple)) else s for s in shapes
        )
    try:
        return replace(SimParams(), **converted)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"simulator parameters: {exc}") from exc
