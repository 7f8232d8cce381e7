"""Export a trained model for ``fastnn.runtime`` (NumPy-only inference): float32, float16 or int8.

int8 is per-output-channel symmetric weight quantization: scale_o = max|W_o| / 127,
q = round(W / scale_o) in [-127, 127]; biases stay float32. BatchNorm layers are folded into the
preceding Conv2d/Linear first (fastnn.nn.utils.fold_batchnorm) when the model has any.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from fastnn.io import atomic_write_bytes
from fastnn.model import Sequential
from fastnn.runtime import FORMAT

DTYPES = ("float32", "float16", "int8")


def quantize_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8: returns (q int8 same shape, scale float32 (O,))."""
    flat = w.reshape(len(w), -1).astype(np.float64)
    scale = np.abs(flat).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(flat / scale[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scale.astype(np.float32)


def _foldable(model: Sequential) -> Sequential:
    if any("BatchNorm" in type(layer).__name__ for layer in model.layers):
        from fastnn.nn.utils import fold_batchnorm

        return fold_batchnorm(model)
    return model


def export_model(model: Sequential, path: str | os.PathLike, dtype: str = "float32") -> dict[str, int]:
    """Write ``model`` (eval mode, BatchNorm folded) for fastnn.runtime; returns sizes in bytes."""
    if dtype not in DTYPES:
        raise ValueError(f"export: dtype must be one of {DTYPES}, got {dtype!r}")
    model = _foldable(model)
    arrays: dict[str, np.ndarray] = {}
    for name, value in model.state_dict().items():
        if dtype == "int8" and name.endswith("weight") and value.ndim >= 2:
            arrays[f"{name}.q"], arrays[f"{name}.scale"] = quantize_int8(value)
        elif dtype == "float16" and value.dtype == np.float32:
            arrays[name] = value.astype(np.float16)
        else:
            arrays[name] = value
    from fastnn import __version__

    meta = {"format": FORMAT, "dtype": dtype, "fastnn_version": __version__}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays["__arch__"] = np.frombuffer(json.dumps(model.config()).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return {"file": len(buf.getvalue()), "weights": sum(a.nbytes for k, a in arrays.items() if not k.startswith("__"))}
