"""Train and evaluate the four modes on one wafer, writing weights and a summary to a folder.

Layout of the output folder:
    ideal.safetensors             software baseline
    unaware.safetensors           the same weights, with their metrics on the wafer's dies
    statistics-aware.safetensors  one weight set for every die
    hardware-aware/<die>.safetensors   one weight set per die
    summary.json                  every mode's metrics, updated by each run

Modes depend on each other (unaware and statistics-aware on ideal, hardware-aware on
statistics-aware). A prerequisite already in the folder is reused when it was trained with the
same seed, layer sizes, preprocessing, training settings and wafer; otherwise it is retrained.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

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
from labctl.training.mnist import DEFAULT_MNIST_DIR, MnistData, load_mnist
from labctl.training.network import BinaryNetwork, check_layers_fit
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
    TrainConfig,
    routing_priority,
    train_hardware_aware,
    train_ideal,
    train_statistics_aware,
)
from labctl.training.wafer_maps import WaferMaps
from labctl.training.weights_io import WeightMetadata, load_weights, read_metadata, save_weights

log = logging.getLogger(__name__)

MODE_ORDER = ("ideal", "unaware", "statistics-aware", "hardware-aware")
SUMMARY_FILE = "summary.json"
HARDWARE_AWARE_DIR = "hardware-aware"

#: The training settings a mode's weights depend on (a prerequisite is reused only if equal).
_IDEAL_FIELDS = ("seed", "ideal_epochs", "batch_size", "learning_rate", "train_subset")
_TRAINING_FIELDS = {
    "ideal": _IDEAL_FIELDS,
    "statistics-aware": (
        *_IDEAL_FIELDS,
        "statistics_epochs",
        "finetune_learning_rate",
        "dies_per_step",
        "routing",
    ),
}

#: Seed offset of the virtual-die sampler used for evaluation (training draws its own dies).
EVAL_SAMPLER_SEED = 1_000_003


@dataclass(frozen=True)
class PipelineOptions:
    """Everything besides the wafer that determines a training run."""

    config: TrainConfig = field(default_factory=TrainConfig)
    layer_sizes: tuple[int, ...] = DEFAULT_LAYER_SIZES
    pool: int = 2
    binarise_threshold: float = 0.5
    virtual_dies: int = 1000
    yield_threshold: float = DEFAULT_YIELD_THRESHOLD
    mnist_dir: Path = DEFAULT_MNIST_DIR

    @property
    def preprocessing(self) -> dict[str, Any]:
        return {"pool": self.pool, "binarise_threshold": self.binarise_threshold}


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
    """One wafer, one output folder, one set of options; computes what each mode needs once."""

    def __init__(
        self,
        wafer: WaferMaps,
        out_dir: Path,
        options: PipelineOptions,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.wafer = wafer
        self.out_dir = Path(out_dir)
        self.options = options
        self.progress = progress or (lambda message: log.info("%s", message))
        self.statistics_aware_metrics: dict[str, Any] = {}
        check_layers_fit(options.layer_sizes, wafer.dies[0].tile_shapes)
        torch.set_num_threads(options.config.threads)

    # --- shared inputs ----------------------------------------------------------------------
    @cached_property
    def data(self) -> MnistData:
        o = self.options
        data = load_mnist(Path(o.mnist_dir), o.pool, o.binarise_threshold)
        if data.n_features != o.layer_sizes[0]:
            raise ConfigError(
                f"preprocessing gives {data.n_features} inputs, the network has "
                f"{o.layer_sizes[0]} (pool {o.pool} of 28x28 images)"
            )
        return data

    @cached_property
    def responses(self) -> list[TileResponse]:
        return die_responses(self.wafer.dies)

    @cached_property
    def statistics(self) -> WaferStatistics:
        return wafer_statistics(self.wafer.dies)

    def _metadata(self, mode: str, die: str | None = None) -> WeightMetadata:
        return WeightMetadata(
            mode=mode,
            seed=self.options.config.seed,
            layer_sizes=self.options.layer_sizes,
            die=die,
            data_file=str(self.wafer.path) if self.wafer.path else self.wafer.wafer_id,
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
            and all(existing.training.get(f) == wanted.training.get(f) for f in fields)
            and (mode == "ideal" or existing.data_file == wanted.data_file)
        )
        if not same:
            return None
        self.progress(f"reusing {path}")
        net, metadata = load_weights(path)
        return Solution(net, routing_from_metadata(metadata.routing, metadata.layer_sizes))

    # --- evaluation -------------------------------------------------------------------------
    def ideal_error(self, net: BinaryNetwork) -> float:
        errors, _ = die_errors(net, self.data.test_x, self.data.test_y, None)
        return float(errors[0])

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

    def _wafer_metrics(self, solution: Solution) -> dict[str, Any]:
        return {
            "test_error_ideal_hardware": self.ideal_error(solution.net),
            "routing": solution.routing is not None,
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
            self.data.train_x,
            self.data.train_y,
            self.options.config,
            self.options.layer_sizes,
            on_epoch=self._epoch_logger("ideal"),
        )
        metadata = self._metadata("ideal")
        metadata.metrics = {"test_error": self.ideal_error(net)}
        save_weights(weight_path(self.out_dir, "ideal"), net, metadata)
        return net

    def unaware(self) -> dict[str, Any]:
        """The ideal weights deployed on every die as they are (no routing either)."""
        net = self.ideal()
        self.progress("evaluating the ideal weights on the dies (unaware)")
        metadata = self._metadata("unaware")
        metadata.metrics = self._wafer_metrics(Solution(net, None))
        save_weights(weight_path(self.out_dir, "unaware"), net, metadata)
        return metadata.metrics

    def statistics_aware(self, force: bool = False) -> Solution:
        """One weight set trained on virtual dies drawn from the wafer statistics, with the
        routing priority that deploys it on any die (None without routing)."""
        if not force and (found := self._reusable("statistics-aware")) is not None:
            return found
        init = self.ideal()
        config = self.options.config
        self.progress(
            f"training statistics-aware ({config.statistics_epochs:g} epochs, "
            f"{config.dies_per_step} virtual dies per step"
            f"{', routed' if config.routing else ''})"
        )
        sampler = DieSampler(self.statistics, seed=config.seed)
        net = train_statistics_aware(
            self.data.train_x,
            self.data.train_y,
            config,
            sampler,
            init,
            on_epoch=self._epoch_logger("statistics-aware"),
        )
        priority = routing_priority(net, self.data.train_x) if config.routing else None
        solution = Solution(net, priority)
        metadata = self._metadata("statistics-aware")
        metadata.routing = routing_to_metadata(priority)
        metadata.metrics = self._wafer_metrics(solution)
        metadata.metrics["wafer_statistics"] = self.statistics.summary()
        save_weights(weight_path(self.out_dir, "statistics-aware"), net, metadata)
        self.statistics_aware_metrics = metadata.metrics
        return solution

    def hardware_aware(self, dies: Sequence[str] | None = None) -> dict[str, Any]:
        """One weight set per die (all dies, or those named), fine-tuned on its measured map,
        keeping the routing the statistics-aware weights give that die."""
        names = list(self.wafer.names) if dies is None else list(dies)
        for name in names:
            self.wafer.die(name)  # clear error for an unknown or unusable die
        index = [self.wafer.names.index(name) for name in names]
        responses = [r.select(index) for r in self.responses]
        init = self.statistics_aware()
        priority = init.routing if isinstance(init.routing, RoutingPriority) else None
        rows = assign_rows(priority, responses) if priority is not None else None
        if rows is not None:
            responses = apply_rows(responses, rows)
        config = self.options.config
        self.progress(
            f"training hardware-aware on {len(names)} die(s) at once "
            f"({config.hardware_epochs:g} epochs)"
        )
        stacked = train_hardware_aware(
            self.data.train_x,
            self.data.train_y,
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
            "dies": list(self.wafer.names),
            "skipped_dies": self.wafer.skipped,
            "seed": self.options.config.seed,
            "preprocessing": self.options.preprocessing,
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
                summary["modes"]["statistics-aware"] = self.statistics_aware_metrics
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
