"""Train and evaluate the modes on one wafer, writing weights and a summary to a folder.

Modes, named for what a die receives:
    ideal                    software baseline (no hardware)
    unaware                  the ideal weights on every die, fixed input-to-row mapping
    statistics-aware         the paper's protocol: one weight set trained on virtual dies drawn
                             from the wafer statistics, the fixed input-to-row mapping, nothing
                             per die
    statistics-aware-routed  our addition: one weight set plus per-die row repair (each die's
                             rows assigned from its measured map; `per_die_config` gives the bits)
    hardware-aware           one weight set per die, fine-tuned on its measured map; it routes
                             (keeps the rows of statistics-aware-routed) when TrainConfig.routing,
                             else uses the fixed mapping starting from statistics-aware

Layout of the output folder:
    ideal.safetensors                    software baseline
    unaware.safetensors                  the same weights, with their metrics on the wafer's dies
    statistics-aware.safetensors         one weight set for every die (paper protocol)
    statistics-aware-routed.safetensors  one weight set + the routing priority
    hardware-aware/<die>.safetensors     one weight set per die
    summary.json                         every mode's metrics, updated by each run

MNIST's 60 000 training images are split (mnist.validation_split): 5 000 by default are held out
for model selection and tuning, the rest train; the 10 000 test images give only the reported
errors. Modes depend on each other (unaware and both statistics-aware modes on ideal,
hardware-aware on one of the statistics-aware modes). A prerequisite already in the folder is
reused when it was trained with the same seed, layer sizes, preprocessing, data split, training
settings and wafer; otherwise it is retrained. Maps that are the simulator's ground truth
(wafer kind `simulator_truth`) are refused unless `allow_truth=True`; every weight file and the
summary record the kind.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labctl.core.errors import ConfigError, LabctlError
from labctl.core.geometry import DEFAULT_LAYER_SIZES
from labctl.training.crossbar import TileResponse, die_responses
from labctl.training.evaluate import (
    DEFAULT_YIELD_THRESHOLD,
    Evaluation,
    die_errors,
    evaluate_dies,
    evaluate_virtual_dies,
)
from labctl.training.mnist import (
    DEFAULT_MNIST_DIR,
    DEFAULT_VALIDATION_IMAGES,
    DataSplit,
    MnistData,
    load_mnist,
    validation_split,
)
from labctl.training.network import BinaryNetwork, check_layers_fit
from labctl.training.polarity import PolarityChoice, choose_polarity
from labctl.training.routing import (
    DieRouting,
    Routing,
    RoutingPriority,
    apply_routing,
    apply_rows,
    assign_rows,
    routing_from_metadata,
    routing_to_metadata,
)
from labctl.training.sampler import DieSampler
from labctl.training.statistics import WaferStatistics, wafer_statistics
from labctl.training.train import (
    ModelSelector,
    TrainConfig,
    routing_priority,
    train_hardware_aware,
    train_ideal,
    train_statistics_aware,
)
from labctl.training.wafer_maps import WaferMaps
from labctl.training.weights_io import WeightMetadata, load_weights, read_metadata, save_weights

log = logging.getLogger(__name__)

MODE_ORDER = ("ideal", "unaware", "statistics-aware", "statistics-aware-routed", "hardware-aware")
SUMMARY_FILE = "summary.json"
HARDWARE_AWARE_DIR = "hardware-aware"

#: What each mode deploys, for tables and summary.json (`protocol`).
PROTOCOLS = {
    "ideal": "software baseline, no hardware",
    "unaware": "ideal weights on every die, fixed input-to-row mapping, nothing per die",
    "statistics-aware": (
        "paper protocol: one weight set, fixed input-to-row mapping, nothing per die"
    ),
    "statistics-aware-routed": (
        "one weight set + per-die row repair (rows assigned from each die's measured map)"
    ),
    "hardware-aware": "one weight set per die, fine-tuned on that die's measured map",
}

#: The training settings a mode's weights depend on (a prerequisite is reused only if equal).
_IDEAL_FIELDS = ("seed", "ideal_epochs", "batch_size", "learning_rate", "train_subset")
_STATISTICS_FIELDS = (
    *_IDEAL_FIELDS,
    "statistics_epochs",
    "finetune_learning_rate",
    "dies_per_step",
)
_TRAINING_FIELDS = {
    "ideal": _IDEAL_FIELDS,
    "statistics-aware": (
        *_STATISTICS_FIELDS,
        "paper_learning_rate",
        "paper_polarity",
        "paper_defect_rate_scale",
    ),
    "statistics-aware-routed": _STATISTICS_FIELDS,
}

#: Seed offset of the virtual-die sampler used for evaluation (training draws its own dies).
EVAL_SAMPLER_SEED = 1_000_003
#: Seed offset of the fixed virtual dies that model selection scores on (validation images).
VALIDATION_SAMPLER_SEED = 2_000_003


def routing_config_bits(layer_sizes: Sequence[int], tile_shapes: Sequence[tuple[int, int]]) -> int:
    """Bits a die must store for its row routing: per layer, a row index for every input."""
    return sum(
        n_in * math.ceil(math.log2(rows))
        for n_in, (rows, _) in zip(layer_sizes[:-1], tile_shapes, strict=False)
    )


def per_die_config(
    mode: str, layer_sizes: Sequence[int], tile_shapes: Sequence[tuple[int, int]], routed: bool
) -> dict[str, int]:
    """What a die of `mode` needs that no other die shares: routing bits, own weight cells and
    own periphery values (per-neuron scale and threshold); all zero for the paper protocol."""
    routing_bits = routing_config_bits(layer_sizes, tile_shapes) if routed else 0
    own_weights = mode == "hardware-aware"
    cells = sum(a * b for a, b in itertools.pairwise(layer_sizes))
    neurons = sum(layer_sizes[1:])
    return {
        "routing_bits": routing_bits,
        "weight_cells": cells if own_weights else 0,
        "periphery_values": 2 * neurons if own_weights else 0,
    }


@dataclass(frozen=True)
class PipelineOptions:
    """Everything besides the wafer that determines a training run."""

    config: TrainConfig = field(default_factory=TrainConfig)
    layer_sizes: tuple[int, ...] = DEFAULT_LAYER_SIZES
    pool: int = 2
    binarise_threshold: float = 0.5
    #: 1 = binary inputs; B > 1 = B-bit inputs read bit-serially (mnist.preprocess_images).
    input_bits: int = 1
    virtual_dies: int = 1000
    yield_threshold: float = DEFAULT_YIELD_THRESHOLD
    mnist_dir: Path = DEFAULT_MNIST_DIR
    #: training images held out for validation (0: train on all 60 000, no model selection).
    validation_images: int = DEFAULT_VALIDATION_IMAGES
    #: virtual dies (fixed draw) on which model selection scores the validation images.
    validation_dies: int = 64

    def __post_init__(self) -> None:
        if self.validation_images < 0 or self.validation_dies < 1:
            raise ConfigError("validation_images must be >= 0 and validation_dies >= 1")

    @property
    def preprocessing(self) -> dict[str, Any]:
        """As weight files record it; `input_bits` only when > 1 (binary files stay as before:
        readers that do not know the key binarise, which is right for them)."""
        pre: dict[str, Any] = {"pool": self.pool, "binarise_threshold": self.binarise_threshold}
        if self.input_bits > 1:
            pre["input_bits"] = self.input_bits
        return pre


@dataclass(frozen=True)
class Solution:
    """A weight set and how it is routed onto a die (None: logical input i on row i)."""

    net: BinaryNetwork
    routing: Routing | None


def weight_path(out_dir: Path, mode: str, die: str | None = None) -> Path:
    """Where `mode`'s weights live in an output folder."""
    if mode == "hardware-aware":
        if die is None:
            raise ValueError("hardware-aware weights are per die")
        return out_dir / HARDWARE_AWARE_DIR / f"{die}.safetensors"
    return out_dir / f"{mode}.safetensors"


class TrainingRun:
    """One wafer, one output folder, one set of options; computes what each mode needs once.

    allow_truth: accept maps that are the simulator's ground truth (wafer kind
    `simulator_truth`); by default only measured maps (or maps built in Python) train.
    """

    def __init__(
        self,
        wafer: WaferMaps,
        out_dir: Path,
        options: PipelineOptions,
        progress: Callable[[str], None] | None = None,
        *,
        allow_truth: bool = False,
    ) -> None:
        if wafer.is_truth and not allow_truth:
            raise ConfigError(
                f"{wafer.path or wafer.wafer_id} holds the simulator's ground truth, not a "
                "measurement; train on a measured sweep, or allow truth maps explicitly"
            )
        self.wafer = wafer
        self.out_dir = Path(out_dir)
        self.options = options
        self.progress = progress or (lambda message: log.info("%s", message))
        self.mode_metrics: dict[str, dict[str, Any]] = {}
        check_layers_fit(options.layer_sizes, wafer.dies[0].tile_shapes)
        torch.set_num_threads(options.config.threads)

    # --- shared inputs ----------------------------------------------------------------------
    @cached_property
    def data(self) -> MnistData:
        o = self.options
        data = load_mnist(Path(o.mnist_dir), o.pool, o.binarise_threshold, o.input_bits)
        if data.n_features != o.layer_sizes[0]:
            raise ConfigError(
                f"preprocessing gives {data.n_features} inputs, the network has "
                f"{o.layer_sizes[0]} (pool {o.pool} of 28x28 images)"
            )
        return data

    @cached_property
    def split(self) -> DataSplit:
        """Training and validation images (the test set is not in here)."""
        return validation_split(self.data, self.options.validation_images)

    @cached_property
    def responses(self) -> list[TileResponse]:
        return die_responses(self.wafer.dies)

    @cached_property
    def statistics(self) -> WaferStatistics:
        return wafer_statistics(self.wafer.dies)

    @cached_property
    def validation_responses(self) -> list[TileResponse]:
        """A fixed draw of virtual dies for model selection (statistics only, no die's map)."""
        seed = self.options.config.seed + VALIDATION_SAMPLER_SEED
        return DieSampler(self.statistics, seed=seed).sample_responses(self.options.validation_dies)

    def _metadata(self, mode: str, die: str | None = None) -> WeightMetadata:
        return WeightMetadata(
            mode=mode,
            seed=self.options.config.seed,
            layer_sizes=self.options.layer_sizes,
            die=die,
            data_file=str(self.wafer.path) if self.wafer.path else self.wafer.wafer_id,
            maps_kind=None if mode == "ideal" else self.wafer.kind,
            data_split=self.split.describe(),
            preprocessing=self.options.preprocessing,
            training=asdict(self.options.config),
        )

    def _reusable(self, mode: str) -> Solution | None:
        path = weight_path(self.out_dir, mode)
        if not path.is_file():
            return None
        try:
            existing = read_metadata(path)
        except LabctlError:
            return None
        wanted = self._metadata(mode)
        fields = _TRAINING_FIELDS[mode]
        same = (
            existing.layer_sizes == wanted.layer_sizes
            and existing.preprocessing == wanted.preprocessing
            and existing.data_split == wanted.data_split
            and all(existing.training.get(f) == wanted.training.get(f) for f in fields)
            and (mode == "ideal" or existing.data_file == wanted.data_file)
        )
        if not same:
            return None
        self.progress(f"reusing {path}")
        net, metadata = load_weights(path)
        self.mode_metrics.setdefault(mode, metadata.metrics)
        return Solution(net, routing_from_metadata(metadata.routing, metadata.layer_sizes))

    # --- evaluation -------------------------------------------------------------------------
    def ideal_error(self, net: BinaryNetwork) -> float:
        """Test-set error on perfect hardware (a reported number)."""
        errors, _ = die_errors(net, self.data.test_x, self.data.test_y, None)
        return float(errors[0])

    def validation_error(self, solution: Solution) -> dict[str, float]:
        """Errors on the validation images: ideal hardware and mean over the wafer's dies."""
        split = self.split
        if split.validation_images == 0:
            return {}
        ideal, _ = die_errors(solution.net, split.val_x, split.val_y, None)
        responses = apply_routing(solution.routing, self.responses)
        dies, _ = die_errors(solution.net, split.val_x, split.val_y, responses)
        return {
            "ideal": float(ideal[0]),
            "dies_mean": float(dies.mean()),
            "dies_median": float(np.median(dies)),
        }

    def evaluate_on_wafer(self, solution: Solution) -> Evaluation:
        responses = apply_routing(solution.routing, self.responses)
        return evaluate_dies(
            solution.net, self.data.test_x, self.data.test_y, responses, self.wafer.names
        )

    def evaluate_virtual(self, solution: Solution) -> dict[str, Any]:
        """Virtual dies from the wafer statistics: mean, spread, yield, loss/error percentiles."""
        n = self.options.virtual_dies
        if n < 1:
            return {}
        priority = solution.routing if isinstance(solution.routing, RoutingPriority) else None
        sampler = DieSampler(self.statistics, seed=self.options.config.seed + EVAL_SAMPLER_SEED)
        result = evaluate_virtual_dies(
            solution.net, self.data.test_x, self.data.test_y, sampler, n, priority=priority
        )
        return {
            "n": n,
            "mean": result.mean_error,
            "std": result.std_error,
            "yield": result.yield_fraction(self.options.yield_threshold),
            "sensitivity": result.distribution(),
        }

    def _wafer_metrics(self, mode: str, solution: Solution) -> dict[str, Any]:
        routed = solution.routing is not None
        return {
            "protocol": PROTOCOLS[mode],
            "per_die_config": per_die_config(
                mode, self.options.layer_sizes, self.wafer.dies[0].tile_shapes, routed
            ),
            "maps_kind": self.wafer.kind,
            "test_error_ideal_hardware": self.ideal_error(solution.net),
            "routing": routed,
            "validation": self.validation_error(solution),
            "dies": self.evaluate_on_wafer(solution).to_dict(self.options.yield_threshold),
            "virtual_dies": self.evaluate_virtual(solution),
        }

    # --- modes ------------------------------------------------------------------------------
    def ideal(self, force: bool = False) -> BinaryNetwork:
        """Software baseline: trained (or reused) and saved."""
        if not force and (found := self._reusable("ideal")) is not None:
            return found.net
        self.progress(f"training ideal ({self.options.config.ideal_epochs:g} epochs)")
        net = train_ideal(
            self.split.train_x,
            self.split.train_y,
            self.options.config,
            self.options.layer_sizes,
            on_epoch=self._epoch_logger("ideal"),
        )
        metadata = self._metadata("ideal")
        metadata.metrics = {
            "test_error": self.ideal_error(net),
            "validation": self.validation_error(Solution(net, None)),
        }
        save_weights(weight_path(self.out_dir, "ideal"), net, metadata)
        return net

    def unaware(self) -> dict[str, Any]:
        """The ideal weights deployed on every die as they are (no routing either)."""
        net = self.ideal()
        self.progress("evaluating the ideal weights on the dies (unaware)")
        metadata = self._metadata("unaware")
        metadata.metrics = self._wafer_metrics("unaware", Solution(net, None))
        save_weights(weight_path(self.out_dir, "unaware"), net, metadata)
        self.mode_metrics["unaware"] = metadata.metrics
        return metadata.metrics

    def statistics_aware(self, force: bool = False) -> Solution:
        """The paper's protocol: one weight set trained on virtual dies drawn from the wafer
        statistics, deployed with the fixed input-to-row mapping, nothing per die. The epoch
        kept is the one with the lowest validation error on a fixed draw of virtual dies."""
        return self._statistics_mode("statistics-aware", routed=False, force=force)

    def statistics_aware_routed(self, force: bool = False) -> Solution:
        """One weight set plus per-die row repair: trained on routed virtual dies, deployed with
        each die's rows assigned from its measured map by the stored routing priority."""
        return self._statistics_mode("statistics-aware-routed", routed=True, force=force)

    def _statistics_mode(self, mode: str, routed: bool, force: bool) -> Solution:
        if not force and (found := self._reusable(mode)) is not None:
            return found
        init = self.ideal()
        config = self.options.config
        paper = not routed
        selector = None
        polarity: PolarityChoice | None = None
        if paper and self.split.validation_images:
            selector = ModelSelector(self._virtual_validation_error)
            if config.paper_polarity:
                init, polarity = choose_polarity(init, self._virtual_validation_error)
                self.progress(f"{mode}: inverted polarity of layers {polarity.inverted_layers}")
        self.progress(
            f"training {mode} ({config.statistics_epochs:g} epochs, "
            f"{config.dies_per_step} virtual dies per step)"
        )
        statistics = self.statistics
        if paper and config.paper_defect_rate_scale != 1.0:
            statistics = statistics.with_defect_rates_scaled(config.paper_defect_rate_scale)
        net = train_statistics_aware(
            self.split.train_x,
            self.split.train_y,
            config,
            DieSampler(statistics, seed=config.seed),
            init,
            on_epoch=self._epoch_logger(mode),
            routing=routed,
            selector=selector,
            learning_rate=config.paper_learning_rate if paper else None,
        )
        priority = routing_priority(net, self.split.train_x) if routed else None
        solution = Solution(net, priority)
        metadata = self._metadata(mode)
        metadata.routing = routing_to_metadata(priority)
        metadata.metrics = self._wafer_metrics(mode, solution)
        metadata.metrics["wafer_statistics"] = self.statistics.summary()
        if selector is not None:
            metadata.metrics["model_selection"] = selector.summary()
        if polarity is not None:
            metadata.metrics["polarity"] = polarity.to_json()
        save_weights(weight_path(self.out_dir, mode), net, metadata)
        self.mode_metrics[mode] = metadata.metrics
        return solution

    def _virtual_validation_error(self, net: BinaryNetwork) -> float:
        errors, _ = die_errors(net, self.split.val_x, self.split.val_y, self.validation_responses)
        return float(errors.mean())

    def hardware_aware(self, dies: Sequence[str] | None = None) -> dict[str, Any]:
        """One weight set per die (all dies, or those named), fine-tuned on its measured map.
        With TrainConfig.routing it starts from statistics-aware-routed and keeps the rows that
        gives the die; without, from statistics-aware on the fixed mapping."""
        names = list(self.wafer.names) if dies is None else list(dies)
        for name in names:
            self.wafer.die(name)  # clear error for an unknown or unusable die
        index = [self.wafer.names.index(name) for name in names]
        responses = [r.select(index) for r in self.responses]
        config = self.options.config
        init = self.statistics_aware_routed() if config.routing else self.statistics_aware()
        priority = init.routing if isinstance(init.routing, RoutingPriority) else None
        rows = assign_rows(priority, responses) if priority is not None else None
        if rows is not None:
            responses = apply_rows(responses, rows)
        self.progress(
            f"training hardware-aware on {len(names)} die(s) at once "
            f"({config.hardware_epochs:g} epochs)"
        )
        stacked = train_hardware_aware(
            self.split.train_x,
            self.split.train_y,
            config,
            responses,
            init.net,
            on_epoch=self._epoch_logger("hardware-aware"),
        )
        errors, losses = die_errors(stacked, self.data.test_x, self.data.test_y, responses)
        ideal_errors, _ = die_errors(stacked, self.data.test_x, self.data.test_y, None)
        for i, name in enumerate(names):
            metadata = self._metadata("hardware-aware", die=name)
            if rows is not None:
                metadata.routing = routing_to_metadata(
                    DieRouting(tuple(r[i].numpy() for r in rows))
                )
            metadata.metrics = {
                "die_error": float(errors[i]),
                "test_error_ideal_hardware": float(ideal_errors[i % len(ideal_errors)]),
            }
            path = weight_path(self.out_dir, "hardware-aware", name)
            save_weights(path, stacked.take(i, i + 1), metadata)
        evaluation = Evaluation(tuple(names), errors, losses)
        return {
            "protocol": PROTOCOLS["hardware-aware"]
            + (", routed" if rows is not None else ", fixed mapping"),
            "per_die_config": per_die_config(
                "hardware-aware",
                self.options.layer_sizes,
                self.wafer.dies[0].tile_shapes,
                rows is not None,
            ),
            "maps_kind": self.wafer.kind,
            "routing": rows is not None,
            "dies": evaluation.to_dict(self.options.yield_threshold),
        }

    def _epoch_logger(self, mode: str) -> Callable[[int, float], None]:
        def report(epoch: int, loss: float) -> None:
            self.progress(f"{mode}: epoch {epoch + 1} loss {loss:.4f}")

        return report

    # --- all together -----------------------------------------------------------------------
    def run(self, modes: Sequence[str], die: str | None = None) -> dict[str, Any]:
        """Run `modes` (in dependency order), update and return summary.json's content."""
        unknown = [m for m in modes if m not in MODE_ORDER]
        if unknown:
            raise ConfigError(f"unknown mode(s) {unknown}; choose from {list(MODE_ORDER)}")
        identity = {
            "wafer": str(self.wafer.path) if self.wafer.path else None,
            "wafer_id": self.wafer.wafer_id,
            "maps_kind": self.wafer.kind,
            "dies": list(self.wafer.names),
            "skipped_dies": self.wafer.skipped,
            "seed": self.options.config.seed,
            "preprocessing": self.options.preprocessing,
            "data_split": self.split.describe(),
            "layer_sizes": list(self.options.layer_sizes),
        }
        summary = self._read_summary()
        if any(summary.get(key) != value for key, value in identity.items()):
            summary = {}  # results of another wafer or configuration: start afresh
        summary.update(identity)
        summary.setdefault("modes", {})
        summary.setdefault("timing_s", {})
        summary.setdefault("training", {})
        for mode in (m for m in MODE_ORDER if m in modes):
            started = time.perf_counter()
            if mode == "ideal":
                summary["baseline_error"] = self.ideal_error(self.ideal(force=True))
            elif mode == "unaware":
                summary["modes"]["unaware"] = self.unaware()
            elif mode == "statistics-aware":
                self.statistics_aware(force=True)
                summary["modes"][mode] = self.mode_metrics[mode]
            elif mode == "statistics-aware-routed":
                self.statistics_aware_routed(force=True)
                summary["modes"][mode] = self.mode_metrics[mode]
            else:
                summary["modes"]["hardware-aware"] = self.hardware_aware(
                    None if die is None else [die]
                )
            summary["timing_s"][mode] = round(time.perf_counter() - started, 2)
            summary["training"][mode] = asdict(self.options.config)
            if "baseline_error" not in summary:
                summary["baseline_error"] = self.ideal_error(self.ideal())
            self._write_summary(summary)
        return summary

    def _read_summary(self) -> dict[str, Any]:
        path = self.out_dir / SUMMARY_FILE
        if not path.is_file():
            return {}
        try:
            loaded = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _write_summary(self, summary: dict[str, Any]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / SUMMARY_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))
        tmp.replace(path)
