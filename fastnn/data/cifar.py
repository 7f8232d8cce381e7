"""CIFAR-10 "python version" batches, read WITHOUT trusting pickle.

The batches are pickled dicts ({b"data": uint8 (10000, 3072), b"labels": [int], ...}). A restricted
unpickler admits only the classes that NumPy array reconstruction needs; any other global (os.system,
builtins.eval, ...) is refused before it can run, with an error naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCHES = ["test_batch"]


class UnsafePickleError(ValueError):
    """A pickle asked for a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, source: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(f"{self.source}: refused to unpickle {module}.{name}: a CIFAR batch holds only "
                                    f"dicts, lists, bytes and NumPy arrays (this file is corrupt or malicious)")
        return super().find_class(module, name)


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 (N, 3, 32, 32), labels int64 (N,)), validated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR batch {path} does not exist")
    try:
        obj = _RestrictedUnpickler(path.read_bytes(), str(path)).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # truncated / garbage pickles raise many different exception types
        raise ValueError(f"{path}: not a readable CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: expected 'data' uint8 (N, 3072), got "
                         f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise ValueError(f"{path}: expected {len(data)} labels, got {len(labels) if labels is not None else None}")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must lie in 0..9, got range [{labels.min()}, {labels.max()}]")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(directory: str | os.PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """All train (50,000) or test (10,000) images of a ``cifar-10-batches-py`` directory."""
    if kind not in ("train", "test"):
        raise ValueError(f"load_cifar10: kind must be 'train' or 'test', got {kind!r}")
    directory = Path(directory)
    names = TRAIN_BATCHES if kind == "train" else TEST_BATCHES
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory}: missing CIFAR-10 batch files {missing}")
    parts = [read_cifar_batch(directory / n) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
