"""The 5,000 real MNIST digits shipped inside the package (see mnist5k/README.md for attribution)."""

from __future__ import annotations

import errno
import hashlib
import os
from importlib.resources import files
from pathlib import Path

import numpy as np

from .idx import IdxFormatError, parse_idx

__all__ = ["BUNDLED_IMAGES", "BUNDLED_LABELS", "BUNDLED_SHA256", "load_bundled_mnist"]

BUNDLED_IMAGES = "mnist5k-images-idx3-ubyte.gz"
BUNDLED_LABELS = "mnist5k-labels-idx1-ubyte.gz"
BUNDLED_SHA256 = {
    BUNDLED_IMAGES: "48e13f85a421673a98f8683b95f79e04dfb31dd4454840908b4c2ae71cb1b29a",
    BUNDLED_LABELS: "b87ffd33979c6c37d1d57891359eb8be61e061ddda9156bfdc82c06710f1abcc",
}
_N = 5000


def _read_verified(directory, name: str) -> np.ndarray:
    entry = directory / name
    try:
        data = entry.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "bundled MNIST file not found", str(entry)) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != BUNDLED_SHA256[name]:
        raise ValueError(
            f"{entry}: sha256 mismatch (file corrupted or modified): "
            f"expected {BUNDLED_SHA256[name]}, got {digest}"
        )
    return parse_idx(data, str(entry))


def load_bundled_mnist(directory: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the bundled MNIST subset: images uint8 (5000, 28, 28), labels uint8 (5000,).

    Rows are ordered by class (500 per digit); shuffle or split stratified before use. Both files
    are checked against their sha256. ``directory`` overrides the package location (for tests).
    """
    root = files(__package__) / "mnist5k" if directory is None else Path(directory)
    images = _read_verified(root, BUNDLED_IMAGES)
    labels = _read_verified(root, BUNDLED_LABELS)
    if images.shape != (_N, 28, 28) or labels.shape != (_N,):  # pragma: no cover - guarded by sha256
        raise IdxFormatError(
            f"{root}: expected images (5000, 28, 28) and labels (5000,), "
            f"got {images.shape} and {labels.shape}"
        )
    return images, labels
