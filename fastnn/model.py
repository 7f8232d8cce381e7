"""Sequential: an indexable stack of layers owning one flat parameter buffer (DESIGN §3, §4).

Building a Sequential adopts every layer's parameters into one FlatParams and plans the forward
pass: an activation that directly follows a layer listing its code in ``FUSABLE_ACTS`` (Linear and
Conv2d: every fused code; BatchNorm: ReLU) is applied in that layer's epilogue
(``fuse=False`` keeps every layer separate: the unfused path the tests compare against).

Backward passes ``need_dx`` to every layer whose ``backward`` takes a second argument (Linear, Conv2d,
Sequential, Residual): False for the first layer with parameters when no input gradient is wanted.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from fastnn.layers.activation import _Activation
from fastnn.layers.base import Module
from fastnn.layers.residual import accepts_need_dx
from fastnn.params import FlatParams, Parameter


class Sequential(Module):
    """Layers applied in order; ``model[i]`` / ``len(model)`` / iteration as in PyTorch."""

    def __init__(self, *layers: Module, fuse: bool = True, _adopt: bool = True) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is {type(layer).__name__}, not a fastnn layer")
            if _adopt:  # a slice (model[a:b]) shares the layers and keeps the full model's names
                layer.label = f"{type(layer).__name__} at model[{i}]"
        self.layers = list(layers)
        self.fuse = fuse
        params = self.parameters()
        self.flat = FlatParams(params) if _adopt else FlatParams.of(params)
        self._plan = self._make_plan()
        self._need_dx = [accepts_need_dx(layer) for layer, _, _ in self._plan]  # backward(dy, need_dx) layers
        self._first_with_params = next((i for i, (layer, _, _) in enumerate(self._plan) if layer.parameters()),
                                       len(self._plan))

    def _make_plan(self) -> list[tuple[Module, int | None, float]]:
        """(layer, fused activation code or None, alpha) steps; fused activation layers are skipped."""
        plan: list[tuple[Module, int | None, float]] = []
        skip = False
        for layer, nxt in zip(self.layers, self.layers[1:] + [None]):
            if skip:
                skip = False
                continue
            fusable = getattr(layer, "FUSABLE_ACTS", ())  # activation codes the layer's epilogue can apply
            if self.fuse and isinstance(nxt, _Activation) and nxt.fused_code and nxt.fused_code in fusable:
                plan.append((layer, nxt.fused_code, nxt.alpha))
                skip = True
            else:
                plan.append((layer, None, 0.0))
        return plan

    # --- container -------------------------------------------------------------------------------
    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return Sequential(*self.layers[index], fuse=self.fuse, _adopt=False)
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    # --- compute -------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer, act, alpha in self._plan:
            x = layer.forward(x, training) if act is None else layer.forward(x, training, act, alpha)
        return x

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.backend.clone(self.forward(x, self.training))

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate dL/dy through every layer, accumulating parameter gradients; returns dL/dx
        (None when ``input_grad`` is False: the first layer then skips its input gradient)."""
        # without an input gradient, layers before the first one with parameters need no backward
        first = 0 if input_grad else self._first_with_params
        for i in range(len(self._plan) - 1, first - 1, -1):
            layer = self._plan[i][0]
            if self._need_dx[i]:
                dy = layer.backward(dy, input_grad or i > first)
            else:
                dy = layer.backward(dy)
        return dy if input_grad else None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        for layer in self.layers:
            input_shape = layer.output_shape(tuple(input_shape))
        return tuple(input_shape)

    # --- parameters and state ----------------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for i, layer in enumerate(self.layers):
            yield from layer.named_parameters(f"{prefix}{i}.")

    def named_state(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for i, layer in enumerate(self.layers):
            yield from layer.named_state(f"{prefix}{i}.")

    def train(self, mode: bool = True) -> Sequential:
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def config(self) -> dict:
        return {"layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers],
                "fuse": self.fuse}

    def __repr__(self) -> str:
        lines = [f"  ({i}): " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def summary(self, input_shape: tuple[int, ...], batch_size: int | None = None) -> str:
        """Layers, output shapes, parameters, FLOPs and activation memory (fastnn.summary) for an input
        of ``input_shape`` = (N, ...), or per-sample shape with ``batch_size``."""
        from fastnn.summary import summary

        return summary(self, input_shape, batch_size)
