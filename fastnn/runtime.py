"""NumPy-only inference for models written by ``fastnn export`` (fastnn.export.export_model).

Imports nothing but NumPy (``import fastnn.runtime`` works where numba and SciPy are not installed):

    from fastnn.runtime import load
    model = load("model.fnx.npz")
    probs = model.predict_proba(x)          # x: float32 (N, C, H, W) or (N, features)

The file is a NumPy .npz (read with allow_pickle=False): an ``__arch__`` JSON string (the Sequential's
config), and per parameter either float32/float16 arrays or int8 weights ``<name>.q`` with float32
per-output-channel scales ``<name>.scale`` (symmetric: w = q * scale).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMAT = "fastnn-export-1"


def _pairs(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """(N, C, OH, OW, KH, KW) strided view of the sliding windows."""
    v = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return v[:, :, ::sh, ::sw]


def _conv(cfg: dict, p: dict) -> Callable[[np.ndarray], np.ndarray]:
    (sh, sw), (kh, kw) = _pairs(cfg.get("stride", 1)), _pairs(cfg["kernel_size"])
    pad = cfg.get("padding", 0)
    ph, pw = (kh // 2, kw // 2) if pad == "same" else (0, 0) if pad == "valid" else _pairs(pad)
    w, b = p["weight"], p.get("bias")

    def f(x):
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        y = np.einsum("nchwij,ocij->nohw", _windows(xp, kh, kw, sh, sw), w, optimize=True)
        return y + b[None, :, None, None] if b is not None else y
    return f


def _pool(kind: str, cfg: dict) -> Callable[[np.ndarray], np.ndarray]:
    (kh, kw), (sh, sw), (ph, pw) = _pairs(cfg["kernel_size"]), _pairs(cfg["stride"]), _pairs(cfg.get("padding", 0))
    include_pad = cfg.get("count_include_pad", True)

    def f(x):
        fill = -np.inf if kind == "max" else 0.0
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
        win = _windows(xp, kh, kw, sh, sw)
        if kind == "max":
            return win.max(axis=(4, 5))
        if include_pad or (ph == 0 and pw == 0):
            return win.mean(axis=(4, 5))
        ones = np.pad(np.ones((1, 1) + x.shape[2:], x.dtype), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        return win.sum(axis=(4, 5)) / _windows(ones, kh, kw, sh, sw).sum(axis=(4, 5))
    return f


def _batchnorm(cfg: dict, p: dict) -> Callable[[np.ndarray], np.ndarray]:
    if "running_mean" not in p:
        raise ValueError("fastnn.runtime: BatchNorm without running statistics cannot run in eval mode")
    scale = 1 / np.sqrt(p["running_var"] + cfg.get("eps", 1e-5))
    if "weight" in p:
        scale = scale * p["weight"]
    shift = (p["bias"] if "bias" in p else 0) - p["running_mean"] * scale

    def f(x):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * scale.reshape(shape) + np.reshape(shift, shape)
    return f


def _layernorm(cfg: dict, p: dict) -> Callable[[np.ndarray], np.ndarray]:
    axes = tuple(range(-len(cfg["normalized_shape"]), 0))
    eps = cfg.get("eps", 1e-5)

    def f(x):
        mu = x.mean(axis=axes, keepdims=True)
        y = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
        return y * p["weight"] + p["bias"] if "weight" in p and "bias" in p else y * p.get("weight", 1)
    return f


def _adaptive_avg(output_size) -> Callable[[np.ndarray], np.ndarray]:
    def bins(size: int, out: int) -> list[tuple[int, int]]:
        return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]

    def f(x):
        h, w = x.shape[2:]
        oh = h if output_size[0] is None else int(output_size[0])
        ow = w if output_size[1] is None else int(output_size[1])
        y = np.empty(x.shape[:2] + (oh, ow), x.dtype)
        for a, (h0, h1) in enumerate(bins(h, oh)):
            for b, (w0, w1) in enumerate(bins(w, ow)):
                y[:, :, a, b] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
        return y
    return f


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), NumPy has no erf."""
    t = 1 / (1 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1 - poly * np.exp(-x * x))


def _gelu(c: dict) -> Callable[[np.ndarray], np.ndarray]:
    if c.get("approximate", "none") == "tanh":
        return lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def _dim(cfg: dict, x: np.ndarray) -> int:
    """The softmax axis: ``dim``, or PyTorch's legacy choice when it is None."""
    return cfg["dim"] if cfg.get("dim") is not None else (0 if x.ndim in (0, 1, 3) else 1)


def _softmax(x: np.ndarray, axis: int, log: bool) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z - lse if log else np.exp(z - lse)


def _softplus(c: dict) -> Callable[[np.ndarray], np.ndarray]:
    beta, threshold = c.get("beta", 1.0), c.get("threshold", 20.0)
    return lambda x: np.where(beta * x > threshold, x, np.logaddexp(0, beta * x) / beta)


_ELEMENTWISE: dict[str, Callable[[dict], Callable[[np.ndarray], np.ndarray]]] = {
    "ELU": lambda c: lambda x: np.where(x > 0, x, c.get("alpha", 1.0) * np.expm1(np.minimum(x, 0))),
    "Softplus": _softplus,
    "GELU": _gelu,
    "SiLU": lambda c: lambda x: x * _sigmoid(x),
    "BinaryStep": lambda c: lambda x: (x >= 0).astype(x.dtype),
    "Softmax": lambda c: lambda x: _softmax(x, _dim(c, x), False),
    "LogSoftmax": lambda c: lambda x: _softmax(x, _dim(c, x), True),
    "ReLU": lambda c: lambda x: np.maximum(x, 0),
    "LeakyReLU": lambda c: lambda x: np.where(x > 0, x, c.get("negative_slope", 0.01) * x),
    "Sigmoid": lambda c: _sigmoid,
    "Tanh": lambda c: np.tanh,
    "Flatten": lambda c: lambda x: x.reshape(len(x), -1),
    "Dropout": lambda c: lambda x: x * (1 - c.get("p", 0.5)) if c.get("mode") == "textbook" else x,
    "Dropout2d": lambda c: lambda x: x,
    "Identity": lambda c: lambda x: x,
}


def _layer(spec: dict, params: dict[str, np.ndarray], prefix: str) -> Callable[[np.ndarray], np.ndarray]:
    kind, cfg = spec["type"], spec.get("config", {})
    own = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix) and "." not in k[len(prefix):]}
    if kind == "Sequential":
        return _sequential(cfg, params, prefix)
    if kind == "Linear":
        w, b = own["weight"], own.get("bias")
        return lambda x: x @ w.T + b if b is not None else x @ w.T
    if kind == "Conv2d":
        return _conv(cfg, own)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return _pool("max" if kind == "MaxPool2d" else "avg", cfg)
    if kind in _ELEMENTWISE:
        return _ELEMENTWISE[kind](cfg)
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return _batchnorm(cfg, own)
    if kind == "LayerNorm":
        return _layernorm(cfg, own)
    if kind in ("AdaptiveAvgPool2d", "GlobalAvgPool2d"):
        return _adaptive_avg(cfg.get("output_size", [1, 1]))
    if kind == "Residual":
        parts = {k: None if cfg.get(k) is None else _layer(cfg[k], params, f"{prefix}{k}.")
                 for k in ("block", "shortcut", "activation")}

        def residual(x):
            y = parts["block"](x) + (parts["shortcut"](x) if parts["shortcut"] else x)
            return parts["activation"](y) if parts["activation"] else y
        return residual
    raise ValueError(f"fastnn.runtime: layer type {kind!r} is not supported by the NumPy runtime")


def _sequential(cfg: dict, params: dict[str, np.ndarray], prefix: str = "") -> Callable[[np.ndarray], np.ndarray]:
    fns = [_layer(spec, params, f"{prefix}{i}.") for i, spec in enumerate(cfg["layers"])]

    def f(x):
        for fn in fns:
            x = fn(x)
        return x
    return f


class RuntimeModel:
    """A loaded export: ``model(x)`` -> logits, ``predict_proba``, ``predict``."""

    def __init__(self, architecture: dict, params: dict[str, np.ndarray], meta: dict) -> None:
        self.architecture, self.meta = architecture, meta
        self._forward = _sequential(architecture, params)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return self._forward(x).astype(np.float32)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = self(x).astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self(x).argmax(axis=1)


def load(path: str | os.PathLike) -> RuntimeModel:
    """Read an export file (validated: format tag, architecture, every weight finite)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"export file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable fastnn export ({e})") from e
    try:
        meta = json.loads(bytes(arrays.pop("__meta__")).decode())
        arch = json.loads(bytes(arrays.pop("__arch__")).decode())
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}: missing or corrupt __meta__/__arch__ entries ({e})") from e
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    params: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if key.endswith(".scale"):
            continue
        if key.endswith(".q"):
            name = key[:-2]
            scale = arrays[f"{name}.scale"].astype(np.float32)
            params[name] = value.astype(np.float32) * scale.reshape((-1,) + (1,) * (value.ndim - 1))
        else:
            params[key] = value.astype(np.float32)
    for name, value in params.items():
        if not np.isfinite(value).all():
            raise ValueError(f"{path}: parameter {name!r} holds NaN or Inf")
    return RuntimeModel(arch, params, meta)
