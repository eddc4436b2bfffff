"""Shared inputs of the programming / validation tests: a simulated wafer file of two measured
dies (seed 0) and small trained weight files, each built once per test process."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import torch

from labctl.core.geometry import DEFAULT_LAYER_SIZES
from labctl.services.station_source import StationSource
from labctl.services.sweep.service import SweepService
from labctl.training.mnist import load_mnist
from labctl.training.network import BinaryNetwork
from labctl.training.routing import RoutingPriority, routing_to_metadata
from labctl.training.train import TrainConfig, train_ideal
from labctl.training.weights_io import WeightMetadata, save_weights

SEED = 0
DIES = ("die_02_00", "die_04_00")


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="labctl-hw-tests-"))


@functools.cache
def measured_wafer() -> Path:
    """Two dies of simulated wafer seed 0, swept as `labctl sweep` does (do not modify)."""
    path = _workdir() / "wafer.h5"
    SweepService(StationSource.simulator(SEED)).measure(path, ",".join(DIES))
    return path


def wafer_copy(directory: Path) -> Path:
    """A private copy of the measured wafer (tests add programmed runs to it)."""
    target = directory / "wafer.h5"
    shutil.copyfile(measured_wafer(), target)
    return target


@functools.cache
def trained_network() -> BinaryNetwork:
    """A 196-100-10 network trained briefly on ideal hardware (about a second)."""
    data = load_mnist()
    config = TrainConfig(ideal_epochs=1.0, train_subset=6000, seed=SEED)
    return train_ideal(data.train_x, data.train_y, config, DEFAULT_LAYER_SIZES)


@functools.cache
def weights_file(routed: bool = True) -> Path:
    """`trained_network` saved as statistics-aware weights (routing priority if `routed`)."""
    net = trained_network()
    metadata = WeightMetadata(mode="statistics-aware", seed=SEED, layer_sizes=net.layer_sizes,
                              preprocessing={"pool": 2, "binarise_threshold": 0.5})
    if routed:
        with torch.no_grad():
            priority = RoutingPriority.of_network(net, load_mnist().train_x[:2000])
        metadata.routing = routing_to_metadata(priority)
    path = _workdir() / f"weights-{'routed' if routed else 'plain'}.safetensors"
    save_weights(path, net, metadata)
    return path


@functools.cache
def foreign_weights_file() -> Path:
    """Weights of another network (784-32-10 on full-size images): does not fit the die."""
    sizes = (784, 32, 10)
    net = BinaryNetwork(sizes, generator=torch.Generator().manual_seed(1))
    path = _workdir() / "foreign.safetensors"
    save_weights(path, net, WeightMetadata(mode="ideal", seed=1, layer_sizes=sizes))
    return path
