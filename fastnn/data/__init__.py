"""Datasets (bundled MNIST subset, IDX files), stratified splits and a batch iterator.

Pure NumPy: importing this package does not import numba.
"""

from .bundled import load_bundled_mnist
from .idx import IdxFormatError, load_mnist_dir, read_idx, write_idx
from .loader import BatchIterator
from .split import MNIST_MEAN, MNIST_STD, stratified_split, train_val_test

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "BatchIterator",
    "IdxFormatError",
    "load_bundled_mnist",
    "load_mnist_dir",
    "read_idx",
    "stratified_split",
    "train_val_test",
    "write_idx",
]
