"""MNIST from the vendored IDX files, checked against SHA256SUMS and preprocessed for the die.

Default preprocessing fits the default die's first tile (196 rows): a 2x2 average pool takes the
28x28 images to 14x14 and a threshold binarises them, giving 196 binary inputs (1 = the row is
driven with the read voltage, 0 = grounded). With `input_bits` > 1 the pooled pixels are
quantised instead and read bit-serially (one analog read per bit plane, shift-and-add).
Decoding the 11 MB of gzip takes about a second, so the decoded arrays and the preprocessed
tensors are cached per process.

`validation_split` holds a fixed, seeded part of the 60 000 training images out of training for
tuning and model selection, so that the 10 000 test images serve only the reported numbers.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from labctl.core.errors import DataFormatError
from labctl.core.resources import data_file

#: The shipped MNIST files (data/mnist/ of the repository, package data when installed).
DEFAULT_MNIST_DIR = data_file("mnist")

_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_IDX_UBYTE = 0x08


@dataclass(frozen=True)
class MnistData:
    """Preprocessed MNIST: inputs as float32 0/1 tensors (n, features), labels as int64 (n,)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    image_side: int
    threshold: float

    @property
    def n_features(self) -> int:
        return int(self.train_x.shape[1])


def read_checksums(data_dir: Path) -> dict[str, str]:
    """Parse SHA256SUMS (`<hex>  <file name>` per line) into file name -> hex digest."""
    sums_path = data_dir / "SHA256SUMS"
    if not sums_path.is_file():
        raise DataFormatError(f"MNIST checksum file missing: {sums_path}")
    sums: dict[str, str] = {}
    for line in sums_path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _read_verified(data_dir: Path, file_name: str, sums: dict[str, str]) -> bytes:
    path = data_dir / file_name
    if not path.is_file():
        raise DataFormatError(f"MNIST file missing: {path} (expected the standard IDX .gz files)")
    expected = sums.get(file_name)
    if expected is None:
        raise DataFormatError(f"no checksum for {file_name} in {data_dir / 'SHA256SUMS'}")
    raw = path.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise DataFormatError(
            f"MNIST file corrupt: {path} has SHA-256 {actual[:16]}..., expected {expected[:16]}..."
        )
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"MNIST file is not valid gzip: {path}: {exc}") from exc


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode an IDX (unsigned byte) array: magic 0x0000 0x08 <ndim>, big-endian dims, payload."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE:
        raise DataFormatError(f"{name}: not an unsigned-byte IDX file")
    ndim = data[3]
    header_len = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_len:
        raise DataFormatError(f"{name}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    payload = np.frombuffer(data, dtype=np.uint8, offset=header_len)
    if payload.size != int(np.prod(dims)):
        raise DataFormatError(f"{name}: payload of {payload.size} bytes does not match dims {dims}")
    return payload.reshape(dims)


@lru_cache(maxsize=4)
def load_raw_mnist(data_dir: Path = DEFAULT_MNIST_DIR) -> dict[str, np.ndarray]:
    """The four verified, decoded arrays (uint8 images n x 28 x 28, uint8 labels n)."""
    data_dir = Path(data_dir)
    sums = read_checksums(data_dir)
    arrays = {
        key: parse_idx(_read_verified(data_dir, file_name, sums), file_name)
        for key, file_name in _FILES.items()
    }
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DataFormatError(f"MNIST {split}: images {images.shape} and labels {labels.shape}")
    return arrays


#: Most input bits a bit-serial read may use (one analog read per bit plane).
MAX_INPUT_BITS = 8


def preprocess_images(
    images: np.ndarray, pool: int, threshold: float, input_bits: int = 1
) -> torch.Tensor:
    """Average-pool by `pool` x `pool`, scale to 0..1, then binarise at `threshold` (1 bit,
    float32 0/1) or, with `input_bits` = B > 1, quantise to the levels k / (2^B - 1).

    Multi-bit inputs are read bit-serially: bit plane b drives the rows (0/1) for one analog
    read and the periphery adds the normalised bit-line sums with weight 2^b / (2^B - 1).
    The emulation is linear in the inputs, so that sum is exactly the tile applied to the
    quantised input, which is what these levels feed it.
    """
    n, height, width = images.shape
    if pool < 1 or height % pool or width % pool:
        raise ValueError(f"pool {pool} does not divide the {height}x{width} images")
    if not 1 <= input_bits <= MAX_INPUT_BITS:
        raise ValueError(f"input_bits must lie in [1, {MAX_INPUT_BITS}], got {input_bits}")
    pooled = images.reshape(n, height // pool, pool, width // pool, pool).mean(axis=(2, 4)) / 255.0
    if input_bits > 1:
        levels = 2**input_bits - 1
        quantised = np.round(pooled * levels) / levels
        return torch.from_numpy(quantised.reshape(n, -1).astype(np.float32))
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"binarisation threshold must lie in (0, 1), got {threshold}")
    return torch.from_numpy((pooled > threshold).reshape(n, -1).astype(np.float32))


def bit_planes(x: torch.Tensor, input_bits: int) -> torch.Tensor:
    """(input_bits, samples, inputs) 0/1 row drives of quantised inputs, least significant
    plane first: sum_b 2^b planes[b] / (2^B - 1) == x (for the bit-serial read-out in situ)."""
    levels = 2**input_bits - 1
    codes = torch.round(x * levels).to(torch.int64)
    return torch.stack([((codes >> b) & 1).to(x.dtype) for b in range(input_bits)])


@lru_cache(maxsize=4)
def load_mnist(
    data_dir: Path = DEFAULT_MNIST_DIR, pool: int = 2, threshold: float = 0.5, input_bits: int = 1
) -> MnistData:
    """Verified, preprocessed MNIST; cached, so treat the returned tensors as read-only."""
    raw = load_raw_mnist(Path(data_dir))
    side = raw["train_images"].shape[1] // pool
    return MnistData(
        train_x=preprocess_images(raw["train_images"], pool, threshold, input_bits),
        train_y=torch.from_numpy(raw["train_labels"].astype(np.int64)),
        test_x=preprocess_images(raw["test_images"], pool, threshold, input_bits),
        test_y=torch.from_numpy(raw["test_labels"].astype(np.int64)),
        image_side=side,
        threshold=threshold,
    )


#: Training images held out for validation by default, and the seed of the permutation that
#: picks them (fixed: every run, mode and wafer validates on the same images).
DEFAULT_VALIDATION_IMAGES = 5000
VALIDATION_SEED = 20_240_528


@dataclass(frozen=True)
class DataSplit:
    """Training and validation inputs/labels carved out of MNIST's 60 000 training images."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    validation_images: int
    seed: int

    def describe(self) -> dict[str, int]:
        """What weight-file metadata records about the split."""
        return {
            "train_images": int(self.train_x.shape[0]),
            "validation_images": self.validation_images,
            "validation_seed": self.seed,
        }


def validation_split(
    data: MnistData, validation_images: int = DEFAULT_VALIDATION_IMAGES, seed: int = VALIDATION_SEED
) -> DataSplit:
    """Hold `validation_images` training images out (a seeded random choice; 0 = none, the
    validation set is then empty and training uses all 60 000, the test set stays untouched)."""
    n = int(data.train_x.shape[0])
    if not 0 <= validation_images < n:
        raise ValueError(f"validation_images must lie in [0, {n}), got {validation_images}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[:validation_images], order[validation_images:]
    if validation_images == 0:
        train = torch.arange(n)  # keep the original order: identical to training without a split
    return DataSplit(
        train_x=data.train_x[train],
        train_y=data.train_y[train],
        val_x=data.train_x[val],
        val_y=data.train_y[val],
        validation_images=validation_images,
        seed=seed,
    )
