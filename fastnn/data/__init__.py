"""Datasets (bundled MNIST subset, IDX files, CIFAR-10), stratified splits, class-imbalance tools and a
batch iterator.

Pure NumPy: importing this package does not import numba.
"""

from .bundled import load_bundled_mnist
from .cifar import UnsafePickleError, load_cifar10, read_cifar_batch
from .idx import IdxFormatError, load_mnist_dir, read_idx, write_idx
from .imbalance import class_weight, oversample, undersample
from .loader import BatchIterator
from .sources import load
from .split import MNIST_MEAN, MNIST_STD, stratified_split, train_val_test

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "BatchIterator",
    "IdxFormatError",
    "UnsafePickleError",
    "class_weight",
    "load",
    "load_cifar10",
    "oversample",
    "read_cifar_batch",
    "undersample",
    "load_bundled_mnist",
    "load_mnist_dir",
    "read_idx",
    "stratified_split",
    "train_val_test",
    "write_idx",
]
