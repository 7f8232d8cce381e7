"""Training diagnostics: per-layer gradient norms, update/weight ratios, dead ReLUs, saturated units.

    rep = diagnostics.report(model, x, y, lr=1e-3)
    print(rep.table()); print("\\n".join(rep.warnings))

``report`` runs one forward/backward pass on a batch (the model's gradients are restored afterwards)
and one unfused forward pass to look at every activation layer's output. ``GradientStats`` is a callback
that records the same gradient norms and update/weight ratios at the end of every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fastnn.backend import assign, to_numpy
from fastnn.callbacks import Callback, TrainState
from fastnn.layers.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from fastnn.losses import CrossEntropyLoss
from fastnn.model import Sequential

VANISHING, EXPLODING = 1e-7, 1e3
DEAD_WARN, SATURATED_WARN = 0.5, 0.5


@dataclass
class Report:
    params: list[dict] = field(default_factory=list)       # name, weight_norm, grad_norm, ratio
    activations: list[dict] = field(default_factory=list)  # layer, kind, dead, saturated
    warnings: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'parameter':<16} {'|w|':>10} {'|g|':>10} {'|g|/|w|':>10} {'lr|g|/|w|':>10}"]
        for p in self.params:
            lines.append(f"{p['name']:<16} {p['weight_norm']:>10.3g} {p['grad_norm']:>10.3g} "
                         f"{p['grad_norm'] / max(p['weight_norm'], 1e-30):>10.3g} "
                         f"{p['update_ratio']:>10.3g}")
        if self.activations:
            lines.append(f"{'activation':<16} {'kind':>10} {'dead':>10} {'saturated':>10}")
            for a in self.activations:
                lines.append(f"{a['layer']:<16} {a['kind']:>10} {a['dead']:>10.1%} {a['saturated']:>10.1%}")
        return "\n".join(lines)


def _grad_norms(model: Sequential) -> list[tuple[str, float, float]]:
    return [(name, float(np.linalg.norm(p.data.astype(np.float64))), float(np.linalg.norm(p.grad.astype(np.float64))))
            for name, p in model.named_parameters()]


def report(model: Sequential, x: np.ndarray, y: np.ndarray, loss_fn=None, lr: float = 1e-3) -> Report:
    """Gradient and activation statistics of ``model`` on the batch (x, y); see the module docstring."""
    loss_fn = loss_fn or CrossEntropyLoss()
    rep = Report()
    saved_grads = to_numpy(model.flat.grad)
    was_training = model.training
    try:
        model.flat.zero_grad()
        loss = loss_fn(model.forward(x, True), y)
        model.backward(loss_fn.backward(), input_grad=False)
        for name, w, g in _grad_norms(model):
            rep.params.append({"name": name, "weight_norm": w, "grad_norm": g, "update_ratio": lr * g / max(w, 1e-30)})
            if not np.isfinite(g) or g > EXPLODING:
                rep.warnings.append(f"exploding gradient: |g| of {name} is {g:.3g} (loss {loss:.4g}); try gradient "
                                    f"clipping or a lower learning rate")
            elif g < VANISHING:
                rep.warnings.append(f"vanishing gradient: |g| of {name} is {g:.3g}; try ReLU-family activations, "
                                    f"He/Kaiming initialization or normalization layers")
        h = x
        for i, layer in enumerate(model.layers):   # unfused: every activation layer's own output
            h = layer.forward(h, False)
            kind = type(layer).__name__
            if isinstance(layer, (ReLU, LeakyReLU)):
                units = h.reshape(len(h), -1)
                dead = float(np.mean(np.all(units <= 0, axis=0)))
                rep.activations.append({"layer": f"{i}", "kind": kind, "dead": dead, "saturated": 0.0})
                if dead > DEAD_WARN:
                    rep.warnings.append(f"dead ReLUs: {dead:.0%} of the units of layer {i} never fire on this batch")
            elif isinstance(layer, (Sigmoid, Tanh)):
                sat = float(np.mean(np.abs(h - 0.5) > 0.49)) if isinstance(layer, Sigmoid) else float(
                    np.mean(np.abs(h) > 0.99))
                rep.activations.append({"layer": f"{i}", "kind": kind, "dead": 0.0, "saturated": sat})
                if sat > SATURATED_WARN:
                    rep.warnings.append(f"saturated units: {sat:.0%} of layer {i}'s {kind} outputs are within 1% "
                                        f"of their limits (gradients vanish there)")
    finally:
        assign(model.flat.grad, saved_grads)
        model.train(was_training)
    return rep


class GradientStats(Callback):
    """Per epoch and parameter: the last batch's gradient norm and the epoch's update/weight ratio
    |w_end - w_start| / |w_end| (how fast each layer moves; ~1e-3 per step is the usual healthy range)."""

    def __init__(self) -> None:
        self.grad_norm: dict[str, list[float]] = {}
        self.update_ratio: dict[str, list[float]] = {}

    def on_epoch_begin(self, state: TrainState) -> None:
        self._start = to_numpy(state.model.flat.data)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        for name, p in state.model.named_parameters():
            w = p.data.astype(np.float64)
            moved = w - self._start[p.offset:p.offset + p.size].reshape(p.shape)
            self.grad_norm.setdefault(name, []).append(float(np.linalg.norm(p.grad.astype(np.float64))))
            self.update_ratio.setdefault(name, []).append(float(np.linalg.norm(moved) / max(np.linalg.norm(w), 1e-30)))
