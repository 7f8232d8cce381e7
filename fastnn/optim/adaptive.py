"""Per-coordinate adaptive learning rates: AdaGrad and RMSProp (PyTorch's and the textbook's variants).

Formulas: kernels/reference/optim.py. ``g`` below is grad (negated with maximize) + wd p + l1 sign(p).
"""

from __future__ import annotations

import numpy as np

from fastnn.backend import to_numpy
from fastnn.optim.base import Optimizer, _nonnegative


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: s += g^2; p -= clr g / (sqrt(s) + eps), clr = lr / (1 + (t - 1) lr_decay).

    ``lr_decay`` and ``initial_accumulator_value`` may differ per group (as in PyTorch).
    """

    segment_keys = ("lr", "weight_decay", "l1", "lr_decay")
    shared_keys = ("eps", "maximize")
    state_names = ("sum",)

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False,
                 l1: float = 0.0, backend=None) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                                  "maximize": maximize, "l1": l1}, backend)
        self._buffer("sum")
        for group, ranges in zip(self.param_groups, self._ranges):
            self._init_group_state(group, ranges)

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        for key in ("lr_decay", "initial_accumulator_value", "eps"):
            _nonnegative(self, key, group[key])

    def _init_group_state(self, group, ranges) -> None:
        acc, _ = self._buffer("sum")
        for s, e in ranges:
            acc[s:e] = group["initial_accumulator_value"]

    def _update(self) -> None:
        g = self.param_groups[0]
        decay = self._cols["lr_decay"]
        clr = self._cols["lr"] / (1.0 + (self.step_count - 1) * decay) if decay.any() else None
        self._kernel("adagrad_update")(self.flat.data, self._buffer("sum")[0], self.flat.grad, *self._table(clr),
                                       float(g["eps"]), bool(g["maximize"]))


class RMSprop(Optimizer):
    """RMSProp: ``torch.optim.RMSprop`` by default, plus the textbook variants.

    r = alpha r + (1 - alpha) g^2;  centered: ga = alpha ga + (1 - alpha) g, r~ = r - ga^2 (else r~ = r);
    den = sqrt(r~) + eps (PyTorch), or sqrt(r~ + eps) with ``eps_inside_sqrt=True`` (Goodfellow et al.
    Alg. 8.5, delta inside the root; typical eps there is 1e-6).

    * momentum > 0, nesterov=False (PyTorch): b = momentum b + g / den; p -= lr b.
    * ``nesterov=True`` (Goodfellow et al. Alg. 8.6, RMSProp with Nesterov momentum; PyTorch has no
      counterpart): v = momentum v - lr g / den; theta += v, with the gradient taken at the interim
      point theta + momentum v. As for ``SGD(convention="textbook", nesterov=True)`` the model holds
      that interim point phi and the kernel applies phi += momentum v - lr g / den (exact
      reparametrization). Alg. 8.6 prints 1/sqrt(r) with no delta; eps (any placement) keeps the first
      steps finite, eps=0 with ``eps_inside_sqrt=True`` is the literal algorithm.

    State: ``square_avg``; ``grad_avg`` (centered); ``momentum_buffer`` (momentum, PyTorch form) or
    ``velocity`` (nesterov).
    """

    shared_keys = ("alpha", "eps", "momentum", "centered", "maximize", "nesterov", "eps_inside_sqrt")
    state_names = ("square_avg", "grad_avg", "momentum_buffer", "velocity")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, *, maximize: bool = False, nesterov: bool = False,
                 eps_inside_sqrt: bool = False, l1: float = 0.0, backend=None) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": centered, "maximize": maximize,
                                  "nesterov": nesterov, "eps_inside_sqrt": eps_inside_sqrt, "l1": l1}, backend)
        self._buffer("square_avg")

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        for key in ("eps", "momentum", "alpha"):
            _nonnegative(self, key, group[key])
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError("RMSprop: nesterov momentum (Alg. 8.6) requires a momentum > 0")

    def _update(self) -> None:
        g = self.param_groups[0]
        grad_avg = self._buffer("grad_avg")[0] if g["centered"] else self._empty
        if g["nesterov"]:
            fn, buf = self._kernel("rmsprop_nesterov_update"), self._buffer("velocity")[0]
        else:
            fn = self._kernel("rmsprop_update")
            buf = self._buffer("momentum_buffer")[0] if g["momentum"] > 0 else self._empty
        fn(self.flat.data, self._buffer("square_avg")[0], grad_avg, buf, self.flat.grad, *self._table(),
           float(g["alpha"]), float(g["eps"]), float(g["momentum"]), bool(g["centered"]),
           bool(g["eps_inside_sqrt"]), bool(g["maximize"]))

    def textbook_theta(self) -> np.ndarray:
        """theta (a copy): with ``nesterov=True`` the model holds phi = theta + momentum v."""
        theta = to_numpy(self.flat.data)
        g = self.param_groups[0]
        if g["nesterov"] and self.state["velocity"].size:
            velocity = to_numpy(self.state["velocity"])
            for s, e in zip(self._seg_start, self._seg_end):
                theta[s:e] -= np.float32(g["momentum"]) * velocity[s:e]
        return theta
