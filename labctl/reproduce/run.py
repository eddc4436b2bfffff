"""The reproduce run: sweep (or reuse) a wafer, train the four modes, program and validate every
complete die with each mode's weights, evaluate the shared weights on a held-out wafer, report.

Every number in the results comes from this run. Which weights go onto a die: unaware = the
ideal weights; statistics-aware = the one shared set on the fixed input-to-row mapping (the
paper's protocol, nothing per die); statistics-aware-routed = one shared set whose rows are
assigned per die from the die's measured map (our addition: per-die row repair); hardware-aware
= that die's own weights. A mode's per-die error is validation (a), the full test set through
the die's read-back map; (b) classifies the first `in_situ_images` test images on the die
itself, through its resistive bit lines, for every mode.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from labctl import __version__
from labctl.core.errors import LabctlError
from labctl.hardware.deploy import WeightSet, load_weight_set
from labctl.hardware.service import die_maps, program_weights, validate_programmed
from labctl.hardware.validate import Validation
from labctl.reproduce.options import DEPLOYED_MODES, IN_SITU_MODE, ReproduceOptions
from labctl.services.station_session import station_session
from labctl.services.station_source import StationSource
from labctl.services.sweep.service import SweepService
from labctl.store.wafer_file import reserved_writer
from labctl.training.mnist import MnistData
from labctl.training.pipeline import MODE_ORDER, PipelineOptions, TrainingRun, weight_path
from labctl.training.wafer_maps import read_wafer_maps
from procedures.program import WriteVerifySettings

log = logging.getLogger("labctl.reproduce")

Progress = Callable[[str], None]


def deploy_and_validate(
    source: StationSource,
    seed: int,
    wafer: Path,
    dies: list[str],
    weights_for: dict[str, Callable[[str], WeightSet]],
    data: MnistData,
    in_situ_images: int,
    progress: Progress,
) -> dict[str, dict[str, Validation]]:
    """Program each mode's weights onto each die and validate it; mode -> die -> result."""
    results: dict[str, dict[str, Validation]] = {mode: {} for mode in weights_for}
    settings = WriteVerifySettings()
    with reserved_writer(wafer), \
            station_session(source.with_seed(seed), "reproduce: program and validate") as station:
        for i, name in enumerate(dies):
            die = die_maps(wafer, name)
            for mode, weights_of in weights_for.items():
                weights = weights_of(name)
                run = program_weights(station, wafer, weights, die, settings)
                result = validate_programmed(station, wafer, weights, die, data, in_situ_images)
                results[mode][name] = result
                summary = run.summary()
                situ = ""
                if result.agreement is not None and result.in_situ_error is not None:
                    situ = (f", in situ {100 * result.in_situ_error:.2f} % (agree "
                            f"{100 * result.agreement:.1f} %)")
                progress(f"[{i + 1}/{len(dies)}] {name} {mode}: error "
                         f"{100 * result.emulated_error:.2f} %"
                         f"{situ}; missed {summary['missed']}, new defects "
                         f"{summary['new_defects']}")
                log.info("%s %s %s: %s", name, mode, run.name, summary)
    return results


def error_stats(per_die: dict[str, float]) -> dict[str, Any]:
    """Per-die errors with mean, std, median, quartiles and range (None without dies)."""
    values = np.asarray(list(per_die.values()), dtype=np.float64)

    def stat(f: Callable[[np.ndarray], Any]) -> float | None:
        return float(f(values)) if values.size else None

    return {
        "per_die": dict(per_die),
        "mean": stat(np.mean),
        "std": stat(np.std),
        "median": stat(np.median),
        "p25": stat(lambda v: np.percentile(v, 25)),
        "p75": stat(lambda v: np.percentile(v, 75)),
        "min": stat(np.min),
        "max": stat(np.max),
    }


def in_situ_stats(validations: dict[str, Validation], images_per_die: int) -> dict[str, Any]:
    """One mode's in-situ figures pooled over its dies (weighted by images), and per die."""
    done = {d: v for d, v in validations.items() if v.agreement is not None}
    n_images = sum(v.in_situ_images for v in done.values())

    def pooled(attr: str) -> float | None:
        if not n_images:
            return None
        return sum(getattr(v, attr) * v.in_situ_images for v in done.values()) / n_images

    return {
        "error": pooled("in_situ_error"),
        "agreement": pooled("agreement"),
        "images_per_die": images_per_die,
        "images": n_images,
        "emulated_error": pooled("emulated_error_subset"),
        "per_die": {
            d: {"agreement": v.agreement, "emulated_error": v.emulated_error_subset,
                "in_situ_error": v.in_situ_error}
            for d, v in done.items()
        },
    }


def run_reproduce(
    options: ReproduceOptions, source: StationSource, progress: Progress
) -> dict[str, Any]:
    """The whole experiment; returns results.json's content (the files are written by the
    caller's report step)."""
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    started = time.perf_counter()

    # 1. the wafer
    t = time.perf_counter()
    wafer_path = out / "wafer.h5"
    if options.wafer is not None:
        if not options.wafer.is_file():
            raise LabctlError(f"wafer file not found: {options.wafer}")
        if not wafer_path.exists():
            progress(f"copying {options.wafer} to {wafer_path} (programmed runs are added there)")
            shutil.copyfile(options.wafer, wafer_path)
    else:
        SweepService(source.with_seed(options.seed)).measure(
            wafer_path, options.sweep_dies, progress_stream=sys.stderr, announce=progress)
    timing["sweep"] = time.perf_counter() - t

    # 2. training
    t = time.perf_counter()
    maps = read_wafer_maps(wafer_path)
    weights_dir = out / "weights"
    training = TrainingRun(
        maps, weights_dir,
        PipelineOptions(config=options.train, virtual_dies=options.virtual_dies),
        progress=progress,
    )
    summary = training.run(MODE_ORDER)
    baseline = float(summary["baseline_error"])
    timing["training"] = time.perf_counter() - t

    # 3. program and validate every (selected) complete die
    t = time.perf_counter()
    dies = list(maps.names)[: options.max_program_dies]
    cache: dict[Path, WeightSet] = {}

    def cached(path: Path) -> WeightSet:
        if path not in cache:
            cache[path] = load_weight_set(path)
        return cache[path]

    weights_for: dict[str, Callable[[str], WeightSet]] = {
        "unaware": lambda die: cached(weight_path(weights_dir, "unaware")),
        "hardware-aware": lambda die: cached(weight_path(weights_dir, "hardware-aware", die)),
        "statistics-aware": lambda die: cached(weight_path(weights_dir, "statistics-aware")),
        # the routing priority in this file makes deploy assign each die's rows (row repair)
        "statistics-aware-routed": lambda die: cached(
            weight_path(weights_dir, "statistics-aware-routed")),
    }
    weights_for = {mode: weights_for[mode] for mode in DEPLOYED_MODES}
    data = training.data
    validations = deploy_and_validate(
        source, options.seed, wafer_path, dies, weights_for, data, options.in_situ_images,
        progress,
    )
    timing["program_validate"] = time.perf_counter() - t

    # 4. the statistics-aware weights on a wafer training never saw
    holdout: dict[str, Any] | None = None
    if options.holdout_seed is not None and source.simulated:
        t = time.perf_counter()
        holdout_path = out / "holdout-wafer.h5"
        SweepService(source.with_seed(options.holdout_seed)).measure(
            holdout_path, options.holdout_sweep_dies, progress_stream=sys.stderr,
            announce=progress)
        holdout_maps = read_wafer_maps(holdout_path)
        holdout_dies = list(holdout_maps.names)[: options.holdout_max_program_dies]
        progress(f"statistics-aware weights on the held-out wafer (seed {options.holdout_seed})")
        held = deploy_and_validate(
            source, options.holdout_seed, holdout_path, holdout_dies,
            {IN_SITU_MODE: weights_for[IN_SITU_MODE]}, data, 0, progress,
        )[IN_SITU_MODE]
        holdout = {
            "seed": options.holdout_seed,
            "wafer": str(holdout_path),
            "mode": IN_SITU_MODE,
            **error_stats({d: v.emulated_error for d, v in held.items()}),
            "failed_dies": dict(holdout_maps.skipped),
        }
        holdout["gap_to_baseline"] = holdout["mean"] - baseline
        timing["holdout"] = time.perf_counter() - t
    timing["total"] = time.perf_counter() - started

    results = build_results(options, summary, validations, holdout, wafer_path, maps.skipped,
                            {k: round(v, 2) for k, v in timing.items()})
    # the device assumption the numbers hold under (None: a real station)
    results["sim_params"] = source.sim_params_record()
    results["sim_params_file"] = str(source.sim_params_file) if source.sim_params_file else None
    return results


def build_results(
    options: ReproduceOptions,
    summary: dict[str, Any],
    validations: dict[str, dict[str, Validation]],
    holdout: dict[str, Any] | None,
    wafer_path: Path,
    skipped: dict[str, str],
    timing: dict[str, float],
) -> dict[str, Any]:
    """results.json's content (the stable contract plus details)."""
    baseline = float(summary["baseline_error"])
    modes: dict[str, Any] = {}
    for mode in DEPLOYED_MODES:
        entry = error_stats({d: v.emulated_error for d, v in validations[mode].items()})
        entry["gap_to_baseline"] = entry["mean"] - baseline if entry["mean"] is not None else None
        trained = summary.get("modes", {}).get(mode, {})
        dies = trained.get("dies", {})
        entry["characterisation_emulation"] = {
            "mean": dies.get("mean"), "std": dies.get("std"), "yield": dies.get("yield"),
        }
        if trained.get("virtual_dies"):
            entry["virtual_dies"] = {
                k: trained["virtual_dies"][k] for k in ("n", "mean", "std", "yield")
            }
        modes[mode] = entry
    for mode, entry in modes.items():
        trained = summary.get("modes", {}).get(mode, {})
        entry["protocol"] = trained.get("protocol")
        entry["routing"] = trained.get("routing")
        entry["per_die_config"] = trained.get("per_die_config")
        entry["in_situ"] = in_situ_stats(validations[mode], options.in_situ_images)
        entry["failed_dies"] = dict(skipped)
    paper = modes[IN_SITU_MODE]["in_situ"]
    return {
        "baseline_error": baseline,
        "modes": modes,
        "in_situ_agreement": paper["agreement"],
        "in_situ": {  # first-wave contract: the paper protocol's in-situ figures
            "mode": IN_SITU_MODE,
            "images_per_die": options.in_situ_images,
            "images": paper["images"],
            "emulated_error": paper["emulated_error"],
            "in_situ_error": paper["error"],
            "per_die": paper["per_die"],
        },
        "failed_dies": dict(skipped),
        "holdout": holdout,
        "seed": options.seed,
        "holdout_seed": options.holdout_seed,
        "wafer": str(wafer_path),
        "dies_programmed": list(validations[DEPLOYED_MODES[0]]),
        "skipped_dies": skipped,
        "quick": options.quick,
        "test_images": next(iter(validations[DEPLOYED_MODES[0]].values())).n_test
        if validations[DEPLOYED_MODES[0]] else None,
        "training": asdict(options.train),
        "timing_s": timing,
        "software_version": __version__,
    }
