"""A point's training settings: a named preset with the grid's overrides on top.

Keys are the fields of `TrainConfig` and `PipelineOptions` (read from the dataclasses, so a
field added there is accepted here too) plus `dies`: how many dies of the wafer map a point uses
(the first N in stepping order; dies a sweep would fail, those with a gross gate short, drop out)
or a list of die names. Every preset runs torch on one thread: a study's parallelism comes from
its workers, and one thread also makes a point's numbers identical on every worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from labctl.core.errors import ConfigError
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.training.pipeline import PipelineOptions
from labctl.training.train import TrainConfig

#: Settings of the pipeline a grid may set besides TrainConfig's (config is TrainConfig itself;
#: the MNIST folder is the worker's own copy).
_PIPELINE_KEYS = tuple(f.name for f in fields(PipelineOptions) if f.name not in ("config",
                                                                                 "mnist_dir"))
_CONFIG_KEYS = tuple(f.name for f in fields(TrainConfig))
STUDY_KEYS = ("dies",)

#: One compute thread per point, for training steps and evaluation alike.
_ONE_THREAD = {"threads": 1, "step_threads": 1}

#: Named starting points; the grid's [training] table overrides any key.
PRESETS: dict[str, dict[str, Any]] = {
    # Seconds per point: for tests and smoke runs (`--quick`).
    "quick": {
        **_ONE_THREAD,
        "ideal_epochs": 2.0,
        "statistics_epochs": 1.0,
        "hardware_epochs": 0.5,
        "train_subset": 6000,
        "virtual_dies": 0,
        "dies": 6,
    },
    # The design-space study of docs/training.md (data/studies/shorts_ron.toml): half the
    # default ideal epochs, 4 of 10 statistics-aware epochs, all training images and dies; about
    # 25 s of one core per point of four modes, so 81 points take under an hour on two workers
    # of the shared 2-core build machine (docs/study.md).
    "study": {
        **_ONE_THREAD,
        "ideal_epochs": 10.0,
        "statistics_epochs": 4.0,
        "hardware_epochs": 1.0,
        "virtual_dies": 0,
        "dies": 36,
    },
    # The pipeline's own defaults (`labctl train`), without the 1000 virtual dies.
    "default": {**_ONE_THREAD, "virtual_dies": 0, "dies": 36},
}


def accepted_keys() -> tuple[str, ...]:
    """Every key a grid's [training] table or a `training.*` axis may name."""
    return (*_CONFIG_KEYS, *_PIPELINE_KEYS, *STUDY_KEYS)


def check_training_keys(values: Mapping[str, Any], where: str) -> None:
    """ConfigError naming unknown keys and the accepted ones."""
    unknown = sorted(set(values) - set(accepted_keys()))
    if unknown:
        raise ConfigError(
            f"{where}: unknown training setting(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(accepted_keys())}"
        )


@dataclass(frozen=True)
class PointTraining:
    """What the pipeline needs for one point, and which dies it uses."""

    options: PipelineOptions
    dies: tuple[str, ...]


def resolve_training(preset: str, overrides: Mapping[str, Any], seed: int) -> PointTraining:
    """The preset with `overrides` and the training seed applied; ConfigError on bad values."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown training preset {preset!r}; choose from {sorted(PRESETS)}")
    values = {**PRESETS[preset], **overrides, "seed": seed}
    check_training_keys(values, f"preset {preset!r}")
    config_values = {k: v for k, v in values.items() if k in _CONFIG_KEYS}
    pipeline_values = {k: v for k, v in values.items() if k in _PIPELINE_KEYS}
    if "layer_sizes" in pipeline_values:
        pipeline_values["layer_sizes"] = tuple(int(n) for n in pipeline_values["layer_sizes"])
    try:
        config = replace(TrainConfig(), **config_values)
        options = replace(PipelineOptions(), config=config, **pipeline_values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"training settings: {exc}") from exc
    return PointTraining(options, _die_selection(values.get("dies", len(ALL_DIE_NAMES))))


def _die_selection(dies: object) -> tuple[str, ...]:
    if isinstance(dies, int) and not isinstance(dies, bool):
        if not 1 <= dies <= len(ALL_DIE_NAMES):
            raise ConfigError(f"dies must be 1 ... {len(ALL_DIE_NAMES)}, got {dies}")
        return ALL_DIE_NAMES[:dies]
    if isinstance(dies, (list, tuple)) and dies and all(isinstance(d, str) for d in dies):
        unknown = [d for d in dies if d not in ALL_DIE_NAMES]
        if unknown:
            raise ConfigError(f"dies: unknown die name(s) {unknown}")
        return tuple(d for d in ALL_DIE_NAMES if d in dies)
    raise ConfigError(f"dies must be a count or a list of die names, got {dies!r}")
