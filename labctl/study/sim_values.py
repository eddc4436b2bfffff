"""Simulator parameters of a point: SimParams' defaults with the grid's values on top.

Keys are SimParams' fields, checked like a `--sim-params` file (labctl.sim.params_file):
unknown keys, wrong types and out-of-range values are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from labctl.core.errors import ConfigError
from labctl.sim.params import SimParams
from labctl.sim.params_file import sim_params_from_dict


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
    """SimParams with `values` replaced; ConfigError for unknown keys or out-of-range values
    (the same checks as a `--sim-params` file)."""
    return sim_params_from_dict(values, source="study simulator parameters")
