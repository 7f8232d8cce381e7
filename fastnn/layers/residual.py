"""Residual: y = act(block(x) + shortcut(x)), the skip connection of ResNets.

``shortcut=None`` is the identity (then block(x) must keep x's shape); a projection shortcut is any
layer or Sequential (typically a 1x1 Conv2d + BatchNorm2d when the block changes channels/stride).
``activation`` (e.g. ``nn.ReLU()``) is applied after the sum: the post-activation basic block.

The backward splits dy (after the activation's backward) into both branches and sums their input
gradients. Parameters and state are named like the equivalent PyTorch module with attributes
``block`` and ``shortcut`` ("3.block.0.weight", "3.shortcut.0.weight"); inside a Sequential they live in
the outer model's flat buffer like every other layer's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator

import numpy as np

from fastnn.layers.base import Module
from fastnn.params import Parameter


def accepts_need_dx(layer: Module) -> bool:
    """Whether ``layer.backward`` takes a second argument (``need_dx`` / ``input_grad``): then it can skip
    its input gradient when nothing upstream needs it (Linear, Conv2d, Sequential, Residual)."""
    try:
        params = list(inspect.signature(layer.backward).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _spec(layer: Module | None) -> dict | None:
    return None if layer is None else {"type": type(layer).__name__, "config": layer.config()}


class Residual(Module):
    """``y = activation(block(x) + shortcut(x))``; identity shortcut when ``shortcut`` is None, no
    activation when ``activation`` is None. ``block``/``shortcut`` may be single layers or Sequentials."""

    def __init__(self, block: Module, shortcut: Module | None = None, activation: Module | None = None) -> None:
        for name, layer in (("block", block), ("shortcut", shortcut), ("activation", activation)):
            if layer is not None and not isinstance(layer, Module):
                raise TypeError(f"Residual: {name} is {type(layer).__name__}, not a fastnn layer")
        if block is None:
            raise TypeError("Residual: block is required")
        self.block, self.shortcut, self.activation = block, shortcut, activation
        self._block_dx, self._short_dx = accepts_need_dx(block), shortcut is not None and accepts_need_dx(shortcut)
        super().__init__()

    # --- labels: errors deep inside name the residual they sit in ------------------------------------
    @property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        self._label = value
        where = value.split(" at ", 1)[1] if " at " in value else value
        for name, part in (("block", self.block), ("shortcut", self.shortcut), ("activation", self.activation)):
            if part is None:
                continue
            part.label = f"{type(part).__name__} at {where}.{name}"
            for i, child in enumerate(getattr(part, "layers", ())):
                child.label = f"{type(child).__name__} at {where}.{name}[{i}]"

    # --- compute -------------------------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        main = tuple(self.block.output_shape(tuple(input_shape)))
        skip = tuple(input_shape) if self.shortcut is None else tuple(self.shortcut.output_shape(tuple(input_shape)))
        if main != skip:
            what = "the input (identity shortcut)" if self.shortcut is None else "the shortcut output"
            raise ValueError(f"{self.label}: block output shape {main} does not match {what} shape {skip} for "
                             f"input {tuple(input_shape)}; use a projection shortcut (e.g. 1x1 Conv2d with the "
                             f"block's stride and channels)")
        return main

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if not self.backend.is_array(x):
            raise ValueError(f"{self.label}: expected an array on {self.backend.name}, got {type(x).__name__}")
        a = self.block.forward(x, training)
        b = x if self.shortcut is None else self.shortcut.forward(x, training)
        if a.shape != b.shape:
            self.output_shape(x.shape)  # raises the descriptive error
            raise ValueError(f"{self.label}: block output shape {a.shape} != shortcut output shape {b.shape}")
        y = self._buffer("sum", a.shape)
        self.backend.add(y, a, b)
        self._x_shape = x.shape
        self._sum_shape = y.shape
        if self.activation is not None:
            y = self.activation.forward(y, training)
        self._y_shape = y.shape
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dL/dx = block'(dy) + shortcut'(dy) (dy taken through the activation first); parameter gradients
        accumulate. ``need_dx=False`` (nothing upstream needs dL/dx) skips the input gradients."""
        dy = self._check_grad(dy, self._y_shape)
        if self.activation is not None:
            dy = self.activation.backward(dy)
        da = self.block.backward(dy, need_dx) if self._block_dx else self.block.backward(dy)
        if self.shortcut is None:
            db = dy
        else:
            db = self.shortcut.backward(dy, need_dx) if self._short_dx else self.shortcut.backward(dy)
        if not need_dx:
            return None
        dx = self._buffer("dx", tuple(self._x_shape))
        self.backend.add(dx, da, db)
        return dx

    # --- parameters and state ----------------------------------------------------------------------
    def _parts(self) -> Iterator[tuple[str, Module]]:
        yield "block", self.block
        if self.shortcut is not None:
            yield "shortcut", self.shortcut
        if self.activation is not None:
            yield "activation", self.activation

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, part in self._parts():
            yield from part.named_parameters(f"{prefix}{name}.")

    def named_state(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name, part in self._parts():
            yield from part.named_state(f"{prefix}{name}.")

    def train(self, mode: bool = True) -> Residual:
        self.training = mode
        for _, part in self._parts():
            part.train(mode)
        return self

    def config(self) -> dict:
        return {"block": _spec(self.block), "shortcut": _spec(self.shortcut), "activation": _spec(self.activation)}

    @classmethod
    def from_config(cls, config: dict, build_layer: Callable[[dict], Module]) -> Residual:
        """Rebuild from ``config()``; ``build_layer`` turns a {"type", "config"} spec into a layer."""
        def part(key: str) -> Module | None:
            spec = config.get(key)
            return None if spec is None else build_layer(spec)

        return cls(part("block"), part("shortcut"), part("activation"))

    def __repr__(self) -> str:
        def indent(layer: Module) -> str:
            return repr(layer).replace("\n", "\n  ")

        lines = [f"  ({name}): {indent(part)}" for name, part in self._parts()]
        return "Residual(\n" + "\n".join(lines) + "\n)"
