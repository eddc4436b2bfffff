"""`labctl train` and `labctl evaluate`: the training modes on a wafer file, and any weights'
error on its dies (and on virtual dies drawn from its statistics).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from labctl.cli.commands import add_command
from labctl.cli.options import (
    add_out_option,
    add_seed_option,
    add_wafer_option,
    count,
    die,
    percent,
    positive,
)
from labctl.core.errors import ConfigError, LabctlError
from labctl.services.console import format_percent

MODES = ("ideal", "unaware", "hardware-aware", "statistics-aware", "all")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = add_command(
        subparsers, "train",
        description=(
            "Train (or evaluate, for unaware) one mode on the complete dies of WAFER.h5 and "
            "write weights and summary.json to DIR. Prerequisites (ideal weights for unaware "
            "and statistics-aware, statistics-aware weights for hardware-aware) found in DIR "
            "are reused when they match, otherwise trained first."
        ),
    )
    train.add_argument("--mode", required=True, choices=MODES, help="training mode")
    add_wafer_option(train, help="wafer file whose complete dies are trained for")
    train.add_argument("--die", type=die, metavar="NAME",
                       help="hardware-aware: train only this die (e.g. die_03_00)")
    add_out_option(train, "dir", "output folder: weights and summary.json")
    train.add_argument("--epochs", type=float, help="epochs of the chosen training mode")
    add_seed_option(train, "random seed (default 0)", default=0)
    train.add_argument(
        "--quick", action="store_true", help="smoke-test preset: few epochs, subset of MNIST"
    )
    train.add_argument(
        "--virtual-dies",
        type=count, metavar="N",
        help="virtual dies for each solution's sensitivity (default 1000, --quick 200)",
    )
    train.add_argument(
        "--no-routing",
        action="store_true",
        help="keep logical input i on physical row i (the paper's mapping) instead of "
        "defect-aware routing",
    )
    train.add_argument(
        "--threads",
        type=positive, metavar="N",
        default=2,
        help="torch threads for evaluation (default 2; training steps use 1)",
    )
    train.set_defaults(func=run_train)

    evaluate = add_command(
        subparsers, "evaluate",
        description=(
            "Error on the 10 000 MNIST test images of weights W on every complete die of "
            "WAFER.h5 (W a folder of per-die hardware-aware weights: each on its own die), "
            "optionally also on N virtual dies drawn from the wafer's statistics."
        ),
    )
    evaluate.add_argument("--weights", required=True, type=Path, metavar="W",
                          help="weight file (.safetensors) or folder of per-die weights")
    add_wafer_option(evaluate, help="wafer file whose complete dies are evaluated")
    evaluate.add_argument("--virtual-dies", type=count, default=0, metavar="N",
                          help="number of virtual dies (default 0)")
    evaluate.add_argument(
        "--threshold", type=percent, default=None, metavar="PERCENT",
        help="yield threshold on the test error, in %% (default 15)",
    )
    evaluate.add_argument("--json", action="store_true",
                          help="print one JSON object (errors as fractions)")
    evaluate.add_argument("--threads", type=positive, default=2, metavar="N",
                          help="torch threads (default 2)")
    evaluate.set_defaults(func=run_evaluate)


def _options(args: argparse.Namespace) -> Any:
    from labctl.training.pipeline import PipelineOptions
    from labctl.training.train import TrainConfig

    config = TrainConfig.quick(args.seed) if args.quick else TrainConfig(seed=args.seed)
    config = TrainConfig(
        **{**config.__dict__, "threads": args.threads, "routing": not args.no_routing}
    )
    if args.epochs is not None:
        if args.mode in ("unaware", "all"):
            raise ConfigError(f"--epochs needs one training mode, not {args.mode}")
        config = config.with_epochs(args.mode, args.epochs)
    virtual = args.virtual_dies
    if virtual is None:
        virtual = 200 if args.quick else 1000
    return PipelineOptions(config=config, virtual_dies=virtual)


def run_train(args: argparse.Namespace) -> int:
    from labctl.training.pipeline import MODE_ORDER, TrainingRun
    from labctl.training.wafer_maps import read_wafer_maps

    if args.die is not None and args.mode != "hardware-aware":
        raise ConfigError("--die applies to --mode hardware-aware only")
    from labctl.services.console import Steps

    options = _options(args)
    wafer = read_wafer_maps(args.wafer)
    if args.die is not None:
        wafer.die(args.die)
    modes = MODE_ORDER if args.mode == "all" else (args.mode,)
    with Steps() as steps:
        run = TrainingRun(wafer, args.out, options, progress=steps.step)
        summary = run.run(modes, die=args.die)
    print(format_summary(summary, modes))
    print(f"weights and summary.json in {args.out}")
    return 0


def format_summary(summary: dict[str, Any], modes: tuple[str, ...]) -> str:
    """Baseline and per-mode mean/std/yield (percent) as a small text table."""
    baseline = summary.get("baseline_error")
    lines = [f"{'mode':<18} {'mean error':>10} {'std':>8} {'yield':>8} {'gap':>9}"]
    if baseline is not None:
        lines.append(f"{'ideal (baseline)':<18} {format_percent(baseline):>10}")
    for mode in modes:
        entry = summary.get("modes", {}).get(mode)
        if not entry:
            continue
        dies = entry["dies"]
        gap = f"{100 * (dies['mean'] - baseline):+7.2f} pt" if baseline is not None else ""
        lines.append(
            f"{mode:<18} {format_percent(dies['mean']):>10} {format_percent(dies['std']):>8} "
            f"{format_percent(dies['yield'], 1):>8} {gap:>9}"
        )
        virtual = entry.get("virtual_dies")
        if virtual:
            lines.append(
                f"{'  virtual dies':<18} {format_percent(virtual['mean']):>10} "
                f"{format_percent(virtual['std']):>8} {format_percent(virtual['yield'], 1):>8}"
                f"   (n = {virtual['n']})"
            )
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from labctl.services.console import Steps
    from labctl.training.evaluate import DEFAULT_YIELD_THRESHOLD

    torch.set_num_threads(args.threads)
    threshold = DEFAULT_YIELD_THRESHOLD if args.threshold is None else args.threshold / 100
    if not args.weights.exists():
        raise LabctlError(f"weights not found: {args.weights}")
    with Steps() as steps:
        if args.weights.is_dir():
            result = _evaluate_per_die_folder(args, threshold, steps)
        else:
            result = _evaluate_file(args, threshold, steps)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(_format_evaluation(result))
    return 0


def _evaluate_file(args: argparse.Namespace, threshold: float, steps: Any) -> dict[str, Any]:
    from labctl.training.crossbar import die_responses
    from labctl.training.evaluate import evaluate_dies, evaluate_virtual_dies
    from labctl.training.network import check_layers_fit
    from labctl.training.pipeline import EVAL_SAMPLER_SEED
    from labctl.training.routing import RoutingPriority, apply_routing, routing_from_metadata
    from labctl.training.sampler import DieSampler
    from labctl.training.statistics import wafer_statistics
    from labctl.training.wafer_maps import read_wafer_maps
    from labctl.training.weights_io import load_weights

    steps.step(f"reading {args.weights} and {args.wafer}")
    net, metadata = load_weights(args.weights)
    routing = routing_from_metadata(metadata.routing, net.layer_sizes)
    wafer = read_wafer_maps(args.wafer)
    check_layers_fit(net.layer_sizes, wafer.dies[0].tile_shapes)
    data = _data_for(metadata)
    responses = apply_routing(routing, die_responses(wafer.dies))
    steps.step(f"evaluating on {len(wafer.names)} dies x {len(data.test_y)} test images")
    evaluation = evaluate_dies(net, data.test_x, data.test_y, responses, wafer.names)
    result: dict[str, Any] = {
        "weights": str(args.weights),
        "mode": metadata.mode,
        "trained_on": metadata.data_file,
        "wafer": str(args.wafer),
        "routing": routing is not None,
        "dies": evaluation.to_dict(threshold),
    }
    if args.virtual_dies:
        steps.step(f"evaluating on {args.virtual_dies} virtual dies")
        sampler = DieSampler(wafer_statistics(wafer.dies), seed=metadata.seed + EVAL_SAMPLER_SEED)
        priority = routing if isinstance(routing, RoutingPriority) else None
        virtual = evaluate_virtual_dies(
            net, data.test_x, data.test_y, sampler, args.virtual_dies, priority=priority
        )
        result["virtual_dies"] = {
            "n": args.virtual_dies,
            "mean": virtual.mean_error,
            "std": virtual.std_error,
            "yield": virtual.yield_fraction(threshold),
            "sensitivity": virtual.distribution(),
        }
    return result


def _evaluate_per_die_folder(args: argparse.Namespace, threshold: float,
                             steps: Any) -> dict[str, Any]:
    import numpy as np

    from labctl.training.crossbar import TileResponse, die_responses
    from labctl.training.evaluate import Evaluation, die_errors
    from labctl.training.network import BinaryNetwork
    from labctl.training.routing import apply_routing, routing_from_metadata
    from labctl.training.wafer_maps import read_wafer_maps
    from labctl.training.weights_io import load_weights

    steps.step(f"reading {args.weights} and {args.wafer}")
    files = sorted(args.weights.glob("*.safetensors"))
    if not files:
        raise LabctlError(f"{args.weights}: no .safetensors weight files in this folder")
    wafer = read_wafer_maps(args.wafer)
    loaded = [load_weights(path) for path in files]
    by_die = {meta.die: (net, meta) for net, meta in loaded if meta.die in wafer.names}
    if not by_die:
        raise LabctlError(f"{args.weights}: no weights for any complete die of {args.wafer}")
    names = [name for name in wafer.names if name in by_die]
    data = _data_for(loaded[0][1])
    stacked = BinaryNetwork.stack([by_die[name][0] for name in names])
    per_die = []
    for name in names:
        net, meta = by_die[name]
        routing = routing_from_metadata(meta.routing, net.layer_sizes)
        per_die.append(apply_routing(routing, die_responses([wafer.die(name)])))
    responses = [TileResponse.concatenate([r[k] for r in per_die]) for k in range(len(per_die[0]))]
    steps.step(f"evaluating on {len(names)} dies, each with its own weights")
    errors, losses = die_errors(stacked, data.test_x, data.test_y, responses)
    evaluation = Evaluation(tuple(names), np.asarray(errors), np.asarray(losses))
    return {
        "weights": str(args.weights),
        "mode": loaded[0][1].mode,
        "wafer": str(args.wafer),
        "dies": evaluation.to_dict(threshold),
    }


def _data_for(metadata: Any) -> Any:
    from labctl.training.mnist import load_mnist

    pre = metadata.preprocessing
    return load_mnist(
        pool=int(pre.get("pool", 2)), threshold=float(pre.get("binarise_threshold", 0.5))
    )


def _format_evaluation(result: dict[str, Any]) -> str:
    dies = result["dies"]
    p = format_percent
    lines = [f"{result['weights']} ({result['mode']}) on {result['wafer']}",
             "die             error"]
    lines += [f"{name:<11} {p(error):>9}" for name, error in dies["per_die"].items()]
    lines.append(
        f"mean {p(dies['mean'])}  std {p(dies['std'])}  "
        f"yield {p(dies['yield'], 1)} (error <= {p(dies['yield_threshold'], 1)}, "
        f"{len(dies['per_die'])} dies)"
    )
    virtual = result.get("virtual_dies")
    if virtual:
        s = virtual["sensitivity"]
        lines.append(
            f"virtual dies: {virtual['n']}  mean {p(virtual['mean'])}  std {p(virtual['std'])}"
            f"  yield {p(virtual['yield'], 1)}  error p5/p50/p95 {p(s['error_p5'])} / "
            f"{p(s['error_p50'])} / {p(s['error_p95'])}"
        )
    return "\n".join(lines)
