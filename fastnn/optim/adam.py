"""Adam and its relatives: Adam (+AMSGrad), AdamW (decoupled weight decay), Adamax, NAdam.

Formulas: kernels/reference/optim.py. Bias corrections (1 - beta^t) and NAdam's momentum schedule
are computed here in float64 and passed to the kernel as scalars.
"""

from __future__ import annotations

from fastnn.optim.base import Optimizer, _betas, _nonnegative


class Adam(Optimizer):
    """``torch.optim.Adam``: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2 (amsgrad: vmax = max(vmax, v));
    p -= lr/(1-b1^t) * m / (sqrt(v or vmax)/sqrt(1-b2^t) + eps).

    ``weight_decay`` is PyTorch's coupled L2 (g += wd p) unless ``decoupled_weight_decay=True``
    (then p *= 1 - lr wd first: AdamW). AMSGrad is ``Adam(amsgrad=True)``.
    """

    shared_keys = ("betas", "eps", "amsgrad", "maximize", "decoupled_weight_decay")
    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, l1: float = 0.0, backend=None) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay, "l1": l1}, backend)
        self._buffer("exp_avg")
        self._buffer("exp_avg_sq")

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        _nonnegative(self, "eps", group["eps"])
        _betas(self, group["betas"])

    def _update(self) -> None:
        g = self.param_groups[0]
        b1, b2 = (float(b) for b in g["betas"])
        t = self.step_count
        vmax = self._buffer("max_exp_avg_sq")[0] if g["amsgrad"] else self._empty
        m, v = self._buffer("exp_avg")[0], self._buffer("exp_avg_sq")[0]
        self._kernel("adam_update")(self.flat.data, m, v, vmax, self.flat.grad, *self._table(), b1, b2,
                                    float(g["eps"]), 1.0 - b1 ** t, 1.0 - b2 ** t, bool(g["amsgrad"]),
                                    bool(g["decoupled_weight_decay"]), bool(g["maximize"]))


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay p *= 1 - lr wd (default wd 1e-2)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False, l1: float = 0.0,
                 backend=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, l1=l1, backend=backend)


class Adamax(Optimizer):
    """``torch.optim.Adamax``: m = b1 m + (1-b1) g; u = max(b2 u, |g| + eps); p -= lr/(1-b1^t) * m / u."""

    shared_keys = ("betas", "eps", "maximize")
    state_names = ("exp_avg", "exp_inf")

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False, l1: float = 0.0, backend=None) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize, "l1": l1}, backend)
        self._buffer("exp_avg")
        self._buffer("exp_inf")

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        _nonnegative(self, "eps", group["eps"])
        _betas(self, group["betas"])

    def _update(self) -> None:
        g = self.param_groups[0]
        b1, b2 = (float(b) for b in g["betas"])
        m, u = self._buffer("exp_avg")[0], self._buffer("exp_inf")[0]
        self._kernel("adamax_update")(self.flat.data, m, u, self.flat.grad, *self._table(), b1, b2,
                                      float(g["eps"]), 1.0 - b1 ** self.step_count, bool(g["maximize"]))


class NAdam(Optimizer):
    """``torch.optim.NAdam`` (Dozat's Nesterov Adam with PyTorch's momentum_decay schedule):

    mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay)),  prod_t = mu_1 ... mu_t (scalar state ``mu_product``)
    m, v as Adam;  p -= lr ((1 - mu_t) / (1 - prod_t) g + mu_{t+1} / (1 - prod_t mu_{t+1}) m) / (sqrt(v/(1-b2^t)) + eps)

    ``decoupled_weight_decay=True`` applies p *= 1 - lr wd instead of g += wd p (PyTorch's NAdamW).
    """

    shared_keys = ("betas", "eps", "momentum_decay", "maximize", "decoupled_weight_decay")
    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False, l1: float = 0.0, backend=None) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize, "l1": l1}, backend)
        self._buffer("exp_avg")
        self._buffer("exp_avg_sq")
        self.mu_product = 1.0

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        _nonnegative(self, "eps", group["eps"])
        _nonnegative(self, "momentum_decay", group["momentum_decay"])
        _betas(self, group["betas"])

    def _update(self) -> None:
        g = self.param_groups[0]
        b1, b2 = (float(b) for b in g["betas"])
        t, psi = self.step_count, float(g["momentum_decay"])
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        self.mu_product *= mu
        c_grad = (1.0 - mu) / (1.0 - self.mu_product)
        c_avg = mu_next / (1.0 - self.mu_product * mu_next)
        m, v = self._buffer("exp_avg")[0], self._buffer("exp_avg_sq")[0]
        self._kernel("nadam_update")(self.flat.data, m, v, self.flat.grad, *self._table(), b1, b2,
                                     float(g["eps"]), 1.0 - b2 ** t, c_grad, c_avg,
                                     bool(g["decoupled_weight_decay"]), bool(g["maximize"]))

    def _state_scalars(self) -> dict[str, float]:
        return {"mu_product": self.mu_product}

    def _load_state_scalars(self, scalars: dict[str, float]) -> None:
        self.mu_product = float(scalars.get("mu_product", 1.0))
