"""``load(spec)``: one string names a data set and where it lives.

"mnist-bundled" (the 5,000 digits shipped in the package), "mnist:/dir" and "fashion-mnist:/dir"
(IDX files, train or t10k), "cifar10:/dir" (a cifar-10-batches-py directory, read with a restricted
unpickler). Returns (images uint8, labels): MNIST-style (N, 28, 28), CIFAR (N, 3, 32, 32).
"""

from __future__ import annotations

import numpy as np

from .bundled import load_bundled_mnist
from .cifar import load_cifar10
from .idx import load_mnist_dir

SOURCES = ("mnist-bundled", "mnist:/dir", "fashion-mnist:/dir", "cifar10:/dir")


def load(spec: str, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of the data set ``spec`` (see module docstring); ``kind`` is train or test."""
    if spec == "mnist-bundled":
        if kind != "train":
            raise ValueError("load: the bundled digits are one set; split it with train_val_test")
        return load_bundled_mnist()
    name, sep, path = spec.partition(":")
    if sep and path and name in ("mnist", "fashion-mnist"):
        return load_mnist_dir(path, kind=kind)
    if sep and path and name == "cifar10":
        return load_cifar10(path, kind=kind)
    raise ValueError(f"load: unknown data spec {spec!r}; expected one of {', '.join(SOURCES)}")
