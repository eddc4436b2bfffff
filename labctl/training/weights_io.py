"""Weight files: safetensors tensors plus labctl's JSON metadata in the safetensors header.

Tensors per layer k: `layer<k>.sign` (int8 ±1, what goes onto the die), `layer<k>.latent`
(float32, to resume training), `layer<k>.scale` and `layer<k>.bias` (float32, the digital
periphery); each with a leading model axis of length 1. The header's `labctl` entry is JSON:
format name and version, mode, die, data file, the kind of maps it came from (measured sweep or
simulator truth), seed, software version, layer sizes, preprocessing, the training/validation
split of MNIST, training configuration, metrics and routing. Loading checks all of it and names
what is wrong.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from labctl import __version__
from labctl.core.errors import DataFormatError
from labctl.store.validate import MAX_TILE_SIDE, MAX_TILES, check_die_name, shown
from labctl.training.network import BinaryNetwork
from labctl.training.routing import routing_from_metadata

WEIGHTS_FORMAT = "labctl-binary-network"
WEIGHTS_FORMAT_VERSION = 1
_HEADER_KEY = "labctl"
MODES = ("ideal", "unaware", "hardware-aware", "statistics-aware", "statistics-aware-routed")


@dataclass
class WeightMetadata:
    """What a weight file says about itself (stored as JSON in its header)."""

    mode: str
    seed: int
    layer_sizes: tuple[int, ...]
    die: str | None = None
    data_file: str | None = None
    #: the wafer file's `kind` ("measurement" or "simulator_truth"; "in_memory" for maps built
    #: in Python); None for files written before provenance was recorded, and for ideal weights.
    maps_kind: str | None = None
    #: the MNIST split training used (mnist.DataSplit.describe()); empty = unknown (older files).
    data_split: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: {"priority": [[...] per layer]} (route on any die) or {"rows": [[...] per layer]} (this
    #: die's physical rows); None = no routing (logical input i on physical row i).
    routing: dict[str, Any] | None = None
    software_version: str = __version__

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": WEIGHTS_FORMAT,
                "format_version": WEIGHTS_FORMAT_VERSION,
                "mode": self.mode,
                "die": self.die,
                "data_file": self.data_file,
                "maps_kind": self.maps_kind,
                "data_split": self.data_split,
                "seed": self.seed,
                "software_version": self.software_version,
                "layer_sizes": list(self.layer_sizes),
                "preprocessing": self.preprocessing,
                "training": self.training,
                "metrics": self.metrics,
                "routing": self.routing,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> WeightMetadata:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{source}: metadata is not JSON: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != WEIGHTS_FORMAT:
            raise DataFormatError(f"{source}: not a labctl weight file")
        version = raw.get("format_version")
        if not isinstance(version, int) or version > WEIGHTS_FORMAT_VERSION:
            raise DataFormatError(
                f"{source}: weight format version {version!r} is newer than this labctl "
                f"supports ({WEIGHTS_FORMAT_VERSION})"
            )
        try:
            mode, seed, sizes = raw["mode"], raw["seed"], raw["layer_sizes"]
        except KeyError as exc:
            raise DataFormatError(f"{source}: metadata lacks {exc.args[0]!r}") from exc
        if mode not in MODES:
            raise DataFormatError(f"{source}: unknown mode {mode!r}")
        if (
            not isinstance(sizes, list)
            or not 2 <= len(sizes) <= MAX_TILES + 1
            or not all(
                isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_TILE_SIDE
                for n in sizes
            )
        ):  # one tile per layer: bounded like the wafer file's tiles (labctl.store.validate)
            raise DataFormatError(f"{source}: bad layer_sizes {shown(repr(sizes))}")
        die = raw.get("die")
        if die is not None:
            if not isinstance(die, str):
                raise DataFormatError(f"{source}: die must be a die name, got {shown(repr(die))}")
            check_die_name(die, f"{source}: metadata die")
        try:
            return cls(
                mode=mode,
                seed=int(seed),
                layer_sizes=tuple(int(n) for n in sizes),
                die=raw.get("die"),
                data_file=raw.get("data_file"),
                maps_kind=raw.get("maps_kind"),
                data_split=dict(raw.get("data_split") or {}),
                preprocessing=dict(raw.get("preprocessing") or {}),
                training=dict(raw.get("training") or {}),
                routing=raw.get("routing"),
                metrics=dict(raw.get("metrics") or {}),
                software_version=str(raw.get("software_version", "unknown")),
            )
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"{source}: malformed metadata ({exc})") from exc


def save_weights(path: Path, net: BinaryNetwork, metadata: WeightMetadata) -> None:
    """Write a single-model network and its metadata to `path` (parents created)."""
    if net.n_models != 1:
        raise ValueError("save one weight set per file (use BinaryNetwork.take for a die)")
    if tuple(metadata.layer_sizes) != net.layer_sizes:
        raise ValueError(f"metadata layer sizes {metadata.layer_sizes} != {net.layer_sizes}")
    tensors: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for k in range(net.n_layers):
            latent = net.latent[k].detach().contiguous()
            tensors[f"layer{k}.sign"] = torch.where(latent >= 0, 1, -1).to(torch.int8)
            tensors[f"layer{k}.latent"] = latent.clone()
            tensors[f"layer{k}.scale"] = net.scale[k].detach().contiguous().clone()
            tensors[f"layer{k}.bias"] = net.bias[k].detach().contiguous().clone()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={_HEADER_KEY: metadata.to_json()})


def read_metadata(path: Path) -> WeightMetadata:
    """Only the metadata of a weight file (cheap)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"weight file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a safetensors file ({exc})") from exc
    if _HEADER_KEY not in header:
        raise DataFormatError(f"{path}: safetensors file without labctl metadata")
    return WeightMetadata.from_json(header[_HEADER_KEY], str(path))


def load_weights(path: Path) -> tuple[BinaryNetwork, WeightMetadata]:
    """The network and metadata of a weight file; DataFormatError naming any inconsistency."""
    metadata = read_metadata(path)
    try:
        routing_from_metadata(metadata.routing, metadata.layer_sizes)  # validates
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: malformed routing metadata ({exc})") from exc
    sizes = metadata.layer_sizes
    expected = {}
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        expected[f"layer{k}.sign"] = ((1, n_in, n_out), torch.int8)
        expected[f"layer{k}.latent"] = ((1, n_in, n_out), torch.float32)
        expected[f"layer{k}.scale"] = ((1, 1, n_out), torch.float32)
        expected[f"layer{k}.bias"] = ((1, 1, n_out), torch.float32)
    _check_header(path, expected)  # names, shapes and types before any tensor is read
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: unreadable tensors ({exc})") from exc
    if set(tensors) != set(expected):
        raise DataFormatError(
            f"{path}: tensors {sorted(tensors)} do not match layer sizes {list(sizes)}"
        )
    net = BinaryNetwork(sizes, n_models=1)
    for name, (shape, dtype) in expected.items():
        tensor = tensors[name]
        if tuple(tensor.shape) != shape or tensor.dtype != dtype:
            raise DataFormatError(
                f"{path}: {name} is {tuple(tensor.shape)} {tensor.dtype}, expected {shape} {dtype}"
            )
        if dtype == torch.float32 and not bool(torch.isfinite(tensor).all()):
            raise DataFormatError(f"{path}: {name} holds non-finite values")
    with torch.no_grad():
        for k in range(net.n_layers):
            sign, latent = tensors[f"layer{k}.sign"], tensors[f"layer{k}.latent"]
            if not bool(((sign == 1) | (sign == -1)).all()):
                raise DataFormatError(f"{path}: layer{k}.sign holds values other than ±1")
            if not bool((torch.where(latent >= 0, 1, -1).to(torch.int8) == sign).all()):
                raise DataFormatError(f"{path}: layer{k}.sign disagrees with layer{k}.latent")
            net.latent[k].copy_(latent)
            net.scale[k].copy_(tensors[f"layer{k}.scale"])
            net.bias[k].copy_(tensors[f"layer{k}.bias"])
    net.eval()
    return net, metadata


_HEADER_DTYPES = {torch.int8: "I8", torch.float32: "F32"}


def _check_header(path: Path, expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
    """DataFormatError unless the file holds exactly the `expected` tensors with their shapes
    and types, as its header declares them (nothing is loaded)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = sorted(handle.keys())
            if names != sorted(expected):
                shown_names = shown(repr(names[:12]), 200)
                raise DataFormatError(
                    f"{path}: tensors {shown_names} do not match the layer sizes in its metadata"
                )
            for name, (shape, dtype) in expected.items():
                view = handle.get_slice(name)
                declared = (tuple(view.get_shape()), view.get_dtype())
                if declared != (shape, _HEADER_DTYPES[dtype]):
                    raise DataFormatError(
                        f"{path}: {name} is declared {declared[0]} {declared[1]}, expected "
                        f"{shape} {_HEADER_DTYPES[dtype]}"
                    )
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: unreadable tensors ({shown(str(exc), 200)})") from exc
