"""Stochastic gradient descent with momentum, in PyTorch's convention and in the textbook one.

``SGD(..., convention="pytorch")`` (default) is ``torch.optim.SGD``: the buffer accumulates raw
gradients and the CURRENT lr scales all of it::

    g = grad + wd p + l1 sign(p);   b = g (first step) else mu b + (1 - dampening) g
    p -= lr * (g + mu b  if nesterov else  b)

``SGD(..., convention="textbook")`` is Goodfellow, Bengio & Courville, Alg. 8.2 / 8.3: the velocity
accumulates lr-scaled steps, so a step taken at an old lr keeps its size::

    v = mu v - lr g;    p += v                                      (momentum, Alg. 8.2)
    v = mu v - lr g;    p += mu v - lr g                            (nesterov, Alg. 8.3, see below)

With a constant lr the two are the same trajectory (v = -lr b); they differ once lr changes
(tests/fastnn/test_optim_rules.py shows both). Textbook Nesterov evaluates the gradient at the
interim point theta~ = theta + mu v. Our models compute the gradient at their current parameters,
so with ``nesterov=True`` the model's parameters ARE the interim point phi = theta + mu v, and the
update phi' = theta' + mu v' = phi + mu v' - lr g is exactly Alg. 8.3 (no approximation: it is the
same sequence of gradient evaluations). ``textbook_theta()`` returns theta = phi - mu v.
PyTorch's nesterov=True is this same reparametrization written in its own buffer convention.
"""

from __future__ import annotations

import numpy as np

from fastnn.backend import to_numpy
from fastnn.optim.base import PARALLEL_MIN_LIGHT, Optimizer, _nonnegative

CONVENTIONS = ("pytorch", "textbook")


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum; ``convention`` picks PyTorch's or the textbook velocity.

    State: ``momentum_buffer`` (pytorch convention) or ``velocity`` (textbook), allocated when momentum > 0
    (at construction, or on the first step after a scheduler raised momentum from 0). As in PyTorch the
    buffer starts as the first gradient (b = g) in the pytorch convention; v starts at 0 in the textbook one.
    Without momentum both conventions are plain SGD (the same kernel).
    """

    shared_keys = ("momentum", "dampening", "nesterov", "maximize")
    parallel_min = PARALLEL_MIN_LIGHT  # no sqrt / division: memory bound earlier, prange pays later

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False, l1: float = 0.0,
                 convention: str = "pytorch", backend=None) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"SGD: convention must be one of {CONVENTIONS}, got {convention!r}")
        self.convention = convention
        self.state_names = ("momentum_buffer",) if convention == "pytorch" else ("velocity",)
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                                  "l1": l1}, backend)
        self._started = False  # PyTorch's buffer starts as the first gradient (b = g), not mu * 0 + (1 - d) g
        if momentum != 0:
            self._buffer(self.state_names[0])

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        _nonnegative(self, "momentum", group["momentum"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum requires a momentum > 0 and zero dampening")
        if self.convention == "textbook" and group["dampening"] != 0:
            raise ValueError("SGD: the textbook convention has no dampening (v = mu v - lr g); got "
                             f"dampening={group['dampening']}")

    def _update(self) -> None:
        g = self.param_groups[0]
        momentum, nesterov, maximize = float(g["momentum"]), bool(g["nesterov"]), bool(g["maximize"])
        name = self.state_names[0]
        buf, fresh = self._buffer(name) if momentum != 0 else (self.state[name], False)
        first = momentum != 0 and (fresh or not self._started)
        self._started = self._started or momentum != 0
        if self.convention == "pytorch" or momentum == 0:
            self._kernel("sgd_update")(self.flat.data, buf, self.flat.grad, *self._table(), momentum,
                                       float(g["dampening"]), nesterov, maximize, first)
        else:
            self._kernel("momentum_update")(self.flat.data, buf, self.flat.grad, *self._table(), momentum,
                                            nesterov, maximize)

    def _state_scalars(self) -> dict:
        return {"momentum_started": self._started}

    def _load_state_scalars(self, scalars: dict) -> None:
        self._started = bool(scalars.get("momentum_started", self.state[self.state_names[0]].size > 0))

    def textbook_theta(self) -> np.ndarray:
        """The textbook parameters theta (a copy of the flat buffer). For textbook Nesterov the model holds
        the interim point phi = theta + mu v, so theta = phi - mu v; otherwise theta is the buffer itself."""
        theta = to_numpy(self.flat.data)
        g = self.param_groups[0]
        if self.convention == "textbook" and g["nesterov"] and self.state["velocity"].size:
            velocity = to_numpy(self.state["velocity"])
            for s, e in zip(self._seg_start, self._seg_end):
                theta[s:e] -= np.float32(g["momentum"]) * velocity[s:e]
        return theta
