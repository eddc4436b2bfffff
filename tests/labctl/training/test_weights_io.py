"""Weight files: round trip with metadata, and clear rejection of bad or foreign files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from labctl.core.errors import DataFormatError
from labctl.training.network import BinaryNetwork
from labctl.training.weights_io import WeightMetadata, load_weights, read_metadata, save_weights

SIZES = (6, 4, 3)


def saved(tmp_path: Path) -> tuple[Path, BinaryNetwork]:
    net = BinaryNetwork(SIZES, generator=torch.Generator().manual_seed(0))
    meta = WeightMetadata(
        mode="hardware-aware",
        seed=7,
        layer_sizes=SIZES,
        die="die_03_00",
        data_file="wafer.h5",
        preprocessing={"pool": 2, "binarise_threshold": 0.5},
        metrics={"die_error": 0.1},
    )
    path = tmp_path / "w" / "die_03_00.safetensors"
    save_weights(path, net, meta)
    return path, net


def test_round_trip_keeps_weights_and_metadata(tmp_path: Path) -> None:
    path, net = saved(tmp_path)
    loaded, meta = load_weights(path)
    for a, b in zip(loaded.parameters(), net.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert meta.mode == "hardware-aware" and meta.die == "die_03_00" and meta.seed == 7
    assert meta.metrics == {"die_error": 0.1} and meta.layer_sizes == SIZES
    assert meta.software_version
    assert read_metadata(path).data_file == "wafer.h5"
    x = (torch.rand(5, 6) > 0.5).float()
    torch.testing.assert_close(loaded(x), net(x))


def rewrite(path: Path, tensors: dict[str, torch.Tensor], header: dict[str, str] | None) -> None:
    save_file(tensors, str(path), metadata=header)


def test_bad_files_are_rejected_with_a_reason(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    with pytest.raises(DataFormatError, match="not found"):
        load_weights(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file")
    with pytest.raises(DataFormatError, match="not a safetensors"):
        load_weights(garbage)

    from safetensors.torch import load_file, safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        header = dict(handle.metadata())
    meta = json.loads(header["labctl"])

    foreign = tmp_path / "foreign.safetensors"
    rewrite(foreign, tensors, None)
    with pytest.raises(DataFormatError, match="without labctl metadata"):
        load_weights(foreign)

    newer = tmp_path / "newer.safetensors"
    rewrite(newer, tensors, {"labctl": json.dumps({**meta, "format_version": 99})})
    with pytest.raises(DataFormatError, match="newer"):
        load_weights(newer)

    other = tmp_path / "other.safetensors"
    rewrite(other, tensors, {"labctl": json.dumps({**meta, "format": "something-else"})})
    with pytest.raises(DataFormatError, match="not a labctl weight file"):
        load_weights(other)

    wrong_sizes = tmp_path / "sizes.safetensors"
    rewrite(wrong_sizes, tensors, {"labctl": json.dumps({**meta, "layer_sizes": [6, 5, 3]})})
    with pytest.raises(DataFormatError, match="expected"):
        load_weights(wrong_sizes)

    flipped = dict(tensors)
    flipped["layer0.sign"] = -tensors["layer0.sign"]
    inconsistent = tmp_path / "flipped.safetensors"
    rewrite(inconsistent, flipped, header)
    with pytest.raises(DataFormatError, match="disagrees"):
        load_weights(inconsistent)

    missing = {k: v for k, v in tensors.items() if k != "layer1.bias"}
    partial = tmp_path / "partial.safetensors"
    rewrite(partial, missing, header)
    with pytest.raises(DataFormatError, match="do not match"):
        load_weights(partial)


def test_only_single_models_are_saved(tmp_path: Path) -> None:
    net = BinaryNetwork(SIZES, n_models=2)
    meta = WeightMetadata(mode="ideal", seed=0, layer_sizes=SIZES)
    with pytest.raises(ValueError):
        save_weights(tmp_path / "x.safetensors", net, meta)
