"""Model summary: per layer output shape, parameters, FLOPs and activation memory at a batch size.

FLOPs count a multiply-add as 2 (forward pass only): Linear 2*in*out (+out for the bias), Conv2d
2*C*KH*KW*O*OH*OW (+O*OH*OW), pooling KH*KW per output, normalization ~5 and elementwise 1 per
element. Activation memory is the float32 output each layer keeps for backward, at ``batch_size``.
"""

from __future__ import annotations

import math

from fastnn.layers.base import Module


def layer_flops(layer: Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Forward FLOPs of one layer for one batch of ``in_shape`` (batch included)."""
    kind = type(layer).__name__
    n_out = math.prod(out_shape)
    if kind == "Linear":
        return out_shape[0] * (2 * layer.in_features * layer.out_features + layer.out_features * layer.has_bias)
    if kind == "Conv2d":
        kh, kw = layer.kernel_size
        return n_out * (2 * layer.in_channels * kh * kw + layer.has_bias)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return n_out * layer.kernel_size[0] * layer.kernel_size[1]
    if "Pool" in kind:  # adaptive / global pooling reads every input once
        return math.prod(in_shape)
    if "Norm" in kind:
        return 5 * n_out
    if kind in ("Flatten", "Identity", "Dropout", "Dropout2d"):
        return 0
    if hasattr(layer, "layers"):
        return sum(r["flops"] for r in rows(layer, in_shape))
    if hasattr(layer, "block"):  # Residual: both branches, the add, the optional activation
        parts = [layer.block, layer.shortcut]
        total = sum(layer_flops(m, in_shape, tuple(m.output_shape(in_shape))) for m in parts if m is not None)
        return total + n_out * (2 if getattr(layer, "activation", None) is not None else 1)
    return n_out


def _children(module: Module) -> list[tuple[str, Module]]:
    if hasattr(module, "layers"):
        return [(str(i), m) for i, m in enumerate(module.layers)]
    return []


def rows(model: Module, input_shape: tuple[int, ...], prefix: str = "") -> list[dict]:
    """One dict per top-level layer: name, type, output shape, params, flops, activation bytes."""
    out = []
    shape = tuple(input_shape)
    for name, layer in _children(model):
        new_shape = tuple(layer.output_shape(shape))
        out.append({"name": prefix + name, "type": type(layer).__name__, "shape": new_shape,
                    "params": sum(p.size for p in layer.parameters()),
                    "flops": layer_flops(layer, shape, new_shape), "activation_bytes": 4 * math.prod(new_shape)})
        shape = new_shape
    return out


def summary(model: Module, input_shape: tuple[int, ...], batch_size: int | None = None) -> str:
    """The table ``model.summary`` prints; ``input_shape`` is (N, ...) or per-sample with ``batch_size``."""
    shape = (batch_size, *input_shape) if batch_size is not None else tuple(input_shape)
    table = rows(model, shape)
    header = ("layer", "output shape", "params", "MFLOPs", "act. KiB")
    lines = [header] + [(f"{r['name']}: {r['type']}", str(r["shape"]), f"{r['params']:,}", f"{r['flops'] / 1e6:.2f}",
                         f"{r['activation_bytes'] / 1024:,.0f}") for r in table]
    lines.append(("total", f"batch {shape[0]}", f"{sum(r['params'] for r in table):,}",
                  f"{sum(r['flops'] for r in table) / 1e6:.2f}",
                  f"{sum(r['activation_bytes'] for r in table) / 1024:,.0f}"))
    widths = [max(len(row[c]) for row in lines) for c in range(len(header))]
    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths)))

    return "\n".join(fmt(row) for row in lines)
