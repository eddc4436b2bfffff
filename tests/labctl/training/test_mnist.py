"""MNIST loader: checksums, IDX decoding, preprocessing, the vendored data set."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from labctl.core.errors import DataFormatError
from labctl.training.mnist import (
    DEFAULT_MNIST_DIR,
    VALIDATION_SEED,
    bit_planes,
    load_mnist,
    load_raw_mnist,
    parse_idx,
    preprocess_images,
    validation_split,
)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def make_mnist_dir(path: Path, n_train: int = 6, n_test: int = 4) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
    }
    path.mkdir(parents=True, exist_ok=True)
    sums = []
    for name, array in arrays.items():
        raw = gzip.compress(idx_bytes(array))
        (path / name).write_bytes(raw)
        sums.append(f"{hashlib.sha256(raw).hexdigest()}  {name}")
    (path / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return path


def test_vendored_mnist_is_verified_binarised_and_cached() -> None:
    data = load_mnist()
    assert data.train_x.shape == (60_000, 196) and data.test_x.shape == (10_000, 196)
    assert set(np.unique(data.train_x.numpy())) == {0.0, 1.0}
    assert data.test_y.min() == 0 and data.test_y.max() == 9
    assert np.bincount(data.test_y.numpy())[1] == 1135  # documented label count
    assert load_mnist() is data


def test_validation_split_is_fixed_disjoint_and_leaves_the_test_set_alone() -> None:
    data = load_mnist()
    split = validation_split(data, 5000)
    assert split.train_x.shape == (55_000, 196) and split.val_x.shape == (5000, 196)
    assert split.describe() == {
        "train_images": 55_000,
        "validation_images": 5000,
        "validation_seed": VALIDATION_SEED,
    }
    again = validation_split(data, 5000)
    assert torch.equal(split.val_x, again.val_x) and torch.equal(split.train_y, again.train_y)
    # Every training image lands in exactly one part: the label counts add up.
    counts = np.bincount(split.train_y.numpy(), minlength=10) + np.bincount(
        split.val_y.numpy(), minlength=10
    )
    np.testing.assert_array_equal(counts, np.bincount(data.train_y.numpy(), minlength=10))
    none = validation_split(data, 0)
    assert none.val_x.shape[0] == 0 and torch.equal(none.train_x, data.train_x)
    with pytest.raises(ValueError, match="validation_images"):
        validation_split(data, 60_000)


def test_multi_bit_inputs_are_quantised_and_their_bit_planes_add_up() -> None:
    images = np.array([[[0, 255], [128, 64]]], dtype=np.uint8)  # one 2x2 image, pool 1
    x = preprocess_images(images, 1, 0.5, input_bits=4)
    np.testing.assert_allclose(x.numpy(), [[0.0, 1.0, 8 / 15, 4 / 15]], rtol=1e-6)
    planes = bit_planes(x, 4)
    assert planes.shape == (4, 1, 4) and set(np.unique(planes.numpy())) <= {0.0, 1.0}
    weights = torch.tensor([1.0, 2.0, 4.0, 8.0]).view(4, 1, 1) / 15
    torch.testing.assert_close((planes * weights).sum(dim=0), x)
    with pytest.raises(ValueError, match="input_bits"):
        preprocess_images(images, 1, 0.5, input_bits=9)


def test_synthetic_idx_files_load(tmp_path: Path) -> None:
    data = load_mnist(make_mnist_dir(tmp_path / "m"), 2, 0.5)
    assert data.train_x.shape == (6, 196) and data.test_y.shape == (4,)


def test_corrupt_file_is_rejected_by_checksum(tmp_path: Path) -> None:
    folder = make_mnist_dir(tmp_path / "m")
    target = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match="corrupt"):
        load_raw_mnist(folder)


def test_missing_file_and_missing_checksums_are_clear_errors(tmp_path: Path) -> None:
    folder = make_mnist_dir(tmp_path / "m")
    (folder / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataFormatError, match="missing"):
        load_raw_mnist(folder)
    other = tmp_path / "n"
    shutil.copytree(DEFAULT_MNIST_DIR, other, ignore=shutil.ignore_patterns("SHA256SUMS", "*.gz"))
    with pytest.raises(DataFormatError, match="checksum file missing"):
        load_raw_mnist(other)


def test_parse_idx_rejects_bad_magic_and_truncation() -> None:
    good = idx_bytes(np.zeros((2, 3)))
    assert parse_idx(good).shape == (2, 3)
    with pytest.raises(DataFormatError, match="not an unsigned-byte"):
        parse_idx(b"\x00\x00\x0d\x01" + good[4:])
    with pytest.raises(DataFormatError, match="does not match"):
        parse_idx(good[:-1])


def test_preprocessing_pools_then_binarises() -> None:
    image = np.zeros((1, 4, 4), dtype=np.uint8)
    image[0, :2, :2] = 255  # pool mean 1.0
    image[0, :2, 2:] = [[255, 0], [0, 0]]  # pool mean 0.25
    image[0, 2:, :2] = [[255, 255], [255, 0]]  # pool mean 0.75
    out = preprocess_images(image, pool=2, threshold=0.5)
    assert out.tolist() == [[1.0, 0.0, 1.0, 0.0]]
    assert preprocess_images(image, pool=2, threshold=0.2).tolist() == [[1.0, 1.0, 1.0, 0.0]]
    with pytest.raises(ValueError):
        preprocess_images(image, pool=3, threshold=0.5)
