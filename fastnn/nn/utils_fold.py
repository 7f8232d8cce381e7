"""``fold_batchnorm(model)``: fold evaluation-mode BatchNorms into the Conv2d / Linear before them.

A BatchNorm in evaluation is an affine map per channel: y = gamma (z - mean) / sqrt(var + eps) + beta with
the running statistics. When z = W x + b comes from a Conv2d (BatchNorm2d) or a Linear (BatchNorm1d), the
pair is ONE layer with
    s = gamma / sqrt(var + eps),   W' = W * s (per output channel),   b' = (b - mean) * s + beta
(computed in float64, stored in float32). The result runs one layer instead of two (and a ReLU that followed
the BatchNorm fuses into the new layer's epilogue), so inference is smaller and faster; outputs equal the
unfolded model's in evaluation mode within float32 rounding.

Only BatchNorms with running statistics (``track_running_stats=True``) fold: without them evaluation uses
batch statistics, which no fixed weights reproduce. Nested Sequentials and Residual blocks (their block /
shortcut / activation parts) are folded recursively. The original model is left untouched: every layer of
the result is a copy.
"""

from __future__ import annotations

import copy

import numpy as np

from fastnn.layers.base import Module
from fastnn.layers.conv import Conv2d
from fastnn.layers.linear import Linear
from fastnn.layers.norm import BatchNorm1d, BatchNorm2d
from fastnn.model import Sequential

__all__ = ["fold_batchnorm"]

_PAIRS = ((Conv2d, BatchNorm2d), (Linear, BatchNorm1d))


def fold_batchnorm(model: Module) -> Module:
    """A new evaluation-mode copy of ``model`` with each BatchNorm that directly follows a Conv2d / Linear
    (inside any Sequential) folded into that layer. The model itself is not modified."""
    if not isinstance(model, Module):
        raise TypeError(f"fold_batchnorm: expected a fastnn model (Sequential or layer), got {type(model).__name__}")
    return _fold(model).eval()


def _foldable(layer: Module, nxt: Module | None) -> bool:
    return (nxt is not None and any(isinstance(layer, a) and type(nxt) is b for a, b in _PAIRS)
            and nxt.track_running_stats)


def _fold(layer: Module) -> Module:
    if isinstance(layer, Sequential):
        out: list[Module] = []
        layers = list(layer.layers)
        i = 0
        while i < len(layers):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if _foldable(layers[i], nxt):
                out.append(_merge(layers[i], nxt))
                i += 2
            else:
                out.append(_fold(layers[i]))
                i += 1
        return Sequential(*out, fuse=layer.fuse)
    parts = getattr(layer, "_parts", None)  # Residual: block / shortcut / activation
    if callable(parts):
        try:
            return type(layer)(**{name: _fold(part) for name, part in parts()})
        except TypeError:
            pass
    return _copy(layer)


def _copy(layer: Module) -> Module:
    """A deep copy of one layer that shares nothing with the original (its parameters leave the original's
    flat buffer; the new Sequential adopts them into its own)."""
    memo = {id(layer.backend): layer.backend}
    for p in layer.parameters():
        if p.flat is not None:
            memo[id(p.flat)] = None
    new = copy.deepcopy(layer, memo)
    for p in new.parameters():
        p.data = np.array(p.data, copy=True)
        p.grad = np.zeros_like(p.data)
        p.flat, p.offset = None, 0
    return new


def _merge(layer: Conv2d | Linear, bn: BatchNorm1d | BatchNorm2d) -> Conv2d | Linear:
    """The single layer computing bn(layer(x)) with bn in evaluation mode."""
    w = layer.weight.data.astype(np.float64)
    b = layer.bias.data.astype(np.float64) if layer.bias is not None else np.zeros(w.shape[0])
    gamma = bn.weight.data.astype(np.float64) if bn.weight is not None else np.ones(w.shape[0])
    beta = bn.bias.data.astype(np.float64) if bn.bias is not None else np.zeros(w.shape[0])
    s = gamma / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    w_new = (w * s.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
    b_new = ((b - bn.running_mean.astype(np.float64)) * s + beta).astype(np.float32)

    def fill_w(a):
        return w_new

    def fill_b(a):
        return b_new

    cfg = {**layer.config(), "bias": True}
    return type(layer)(**cfg, init=fill_w, bias_init=fill_b)
