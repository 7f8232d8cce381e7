"""Optimizers over the flat parameter buffer: one fused kernel launch per step (DESIGN §3).

Param groups work as in PyTorch (``[{"params": [...], "lr": ...}, ...]``); each group becomes
segments of the flat buffer's segment table carrying its lr and weight decay. Host code computes
bias corrections in float64 and passes them as scalars.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from fastnn.backend import CPU, Backend
from fastnn.params import FlatParams, Parameter


class Optimizer:
    """Base: param groups, the segment table, zero_grad, state_dict."""

    shared_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict, backend: Backend = CPU) -> None:
        self.backend = backend
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        for g in groups:
            group = {**defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise TypeError(f"{type(self).__name__}: expected fastnn Parameters, got {type(p).__name__}")
            for key in ("lr", "weight_decay"):
                if group[key] < 0:
                    raise ValueError(f"{type(self).__name__}: {key} must be >= 0, got {group[key]}")
            self.param_groups.append(group)
        self.defaults = defaults
        for key in self.shared_keys:
            if any(g[key] != self.param_groups[0][key] for g in self.param_groups):
                raise ValueError(f"{type(self).__name__}: {key!r} must be the same in every param group (per-group "
                                 f"settings are lr and weight_decay)")
        everything = [p for g in self.param_groups for p in g["params"]]
        if len({id(p) for p in everything}) != len(everything):
            raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        self.flat = FlatParams.of(everything)
        self._ranges = [self.flat.ranges(g["params"]) for g in self.param_groups]
        starts = [s for rs in self._ranges for s, _ in rs]
        ends = [e for rs in self._ranges for _, e in rs]
        self._seg_start = np.array(starts, dtype=np.int64)
        self._seg_end = np.array(ends, dtype=np.int64)
        self._covers_all = sum(e - s for s, e in zip(starts, ends)) == self.flat.size
        self.step_count = 0

    def _segment_column(self, key: str) -> np.ndarray:
        """Per-segment float64 values of a group setting (read each step: schedulers change lr)."""
        return np.array([g[key] for g, rs in zip(self.param_groups, self._ranges) for _ in rs], dtype=np.float64)

    def _state_buffer(self) -> np.ndarray:
        return np.zeros(self.flat.size, dtype=np.float32)

    def zero_grad(self) -> None:
        """Set the gradients of this optimizer's parameters to zero (one memset when it owns them all)."""
        if self._covers_all:
            self.flat.grad.fill(0)
        else:
            for s, e in zip(self._seg_start, self._seg_end):
                self.flat.grad[s:e] = 0

    def step(self) -> None:
        self.step_count += 1
        self._update(self.flat.data, self.flat.grad, self._segment_column("lr"),
                     self._segment_column("weight_decay"))

    def _update(self, params: np.ndarray, grads: np.ndarray, lr: np.ndarray, wd: np.ndarray) -> None:
        raise TypeError(f"{type(self).__name__} must define _update")

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def state_dict(self) -> dict:
        """Step count, group hyper-parameters and state buffers (copies)."""
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        return {"step": self.step_count, "param_groups": groups,
                "state": {k: a.copy() for k, a in self._state_arrays().items()}}

    def load_state_dict(self, state: dict) -> None:
        if len(state["param_groups"]) != len(self.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected {len(self.param_groups)} param groups, "
                             f"got {len(state['param_groups'])}")
        own = self._state_arrays()
        for key, target in own.items():
            value = np.asarray(state["state"][key])
            if value.shape != target.shape:
                raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} expected shape "
                                 f"{target.shape}, got {value.shape}")
            target[...] = value
        for group, saved in zip(self.param_groups, state["param_groups"]):
            group.update(saved)
        self.step_count = int(state["step"])


class SGD(Optimizer):
    """PyTorch's SGD: g += wd p; v = mu v + (1 - dampening) g (v = g on the first step);
    p -= lr * (g + mu v if nesterov else v)."""

    shared_keys = ("momentum", "dampening", "nesterov")

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})
        self.momentum_buffer = self._state_buffer()

    def _update(self, params, grads, lr, wd) -> None:
        g = self.param_groups[0]
        self.backend.k.sgd_update(params, self.momentum_buffer, grads, self._seg_start, self._seg_end, lr, wd,
                                  float(g["momentum"]), float(g["dampening"]), bool(g["nesterov"]),
                                  self.step_count == 1)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"momentum_buffer": self.momentum_buffer}


class Adam(Optimizer):
    """PyTorch's Adam (coupled L2 weight decay): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)."""

    shared_keys = ("betas", "eps")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or eps < 0:
            raise ValueError(f"Adam: betas must lie in [0, 1) and eps >= 0, got betas={betas}, eps={eps}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})
        self.exp_avg = self._state_buffer()
        self.exp_avg_sq = self._state_buffer()

    def _update(self, params, grads, lr, wd) -> None:
        b1, b2 = self.param_groups[0]["betas"]
        t = self.step_count
        self.backend.k.adam_update(params, self.exp_avg, self.exp_avg_sq, grads, self._seg_start, self._seg_end,
                                   lr, wd, float(b1), float(b2), float(self.param_groups[0]["eps"]),
                                   1.0 - b1 ** t, 1.0 - b2 ** t)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}


from fastnn.optim import lr_scheduler  # noqa: E402, F401  (torch.optim.lr_scheduler-style access)
