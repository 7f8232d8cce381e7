"""Losses with PyTorch's names and arguments: ``loss = loss_fn(input, target)`` then ``dinput = loss_fn.backward()``.

Every loss takes float32 arrays, validates shapes, dtypes and targets (a ValueError naming the loss,
the expected and the actual value), and reduces with ``reduction`` "mean" (default), "sum" or "none".
``__call__`` returns a Python float ("mean"/"sum") or a float32 array of per-element losses ("none");
``backward(grad=1.0)`` returns dL/dinput for the last call times the upstream gradient ``grad`` (for
"none" a scalar or an array of the losses' shape). The returned gradient is a buffer reused by the next
call. Formulas: kernels/reference/loss.py.

Classes: CrossEntropyLoss (weight, ignore_index, label_smoothing), NLLLoss, MSELoss, L1Loss, BCELoss,
BCEWithLogitsLoss (pos_weight), KLDivLoss ("batchmean", log_target) and DistillationLoss(T, alpha).
"""

from __future__ import annotations

import math

import numpy as np

from fastnn.backend import CPU, Backend, get_backend

REDUCTIONS = ("mean", "sum", "none")


def _describe(a) -> str:
    return f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}".strip()


class _Loss:
    """Shared plumbing: reduction, validation helpers, reused buffers, the upstream-gradient rule."""

    reductions = REDUCTIONS

    def __init__(self, reduction: str = "mean", backend: Backend = CPU) -> None:
        name = type(self).__name__
        if reduction not in self.reductions:
            allowed = ", ".join(repr(r) for r in self.reductions)
            raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")
        self.reduction = reduction
        self.backend = backend
        self._bufs: dict[str, np.ndarray] = {}
        self._shape: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        return type(self).__name__

    cuda_ok = True  # runs on Backend("cuda") (with this configuration)

    def to(self, device: str | Backend) -> _Loss:
        """Run on ``device`` (the model's): inputs must then live there; class targets stay host arrays
        (validated, then copied once per batch). Returns self."""
        backend = get_backend(device)
        if backend.is_cuda and not self.cuda_ok:
            raise ValueError(f"{self.name}: this loss (with these options) runs on the CPU only")
        self.backend, self._bufs = backend, {}
        return self

    def _dev(self, a: np.ndarray, key: str):
        """Host array ``a`` on this loss's device (a reused device buffer ``key`` on CUDA)."""
        if not self.backend.is_cuda:
            return a
        return self.backend.to_device(a, out=self._buffer(key, a.shape, a.dtype))

    def _buffer(self, key: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        buf = self._bufs.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._bufs[key] = self.backend.empty(shape, dtype)
        return buf

    def __call__(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        return self.forward(input, target)

    # --- validation ------------------------------------------------------------------------------
    def _float_input(self, x, what: str, expected: str, ok=None) -> np.ndarray:
        if not self.backend.is_array(x) or x.dtype != np.float32 or (ok is not None and not ok(x)):
            raise ValueError(f"{self.name}: expected float32 {what} of shape {expected} on {self.backend.name}, got "
                             f"{_describe(x)}")
        return self.backend.contiguous(x)

    def _same_shape_target(self, input: np.ndarray, target) -> np.ndarray:
        if not self.backend.is_array(target) or target.dtype != np.float32 or target.shape != input.shape:
            raise ValueError(f"{self.name}: expected a float32 target of the input's shape {input.shape} on "
                             f"{self.backend.name}, got {_describe(target)}")
        return self.backend.contiguous(target)

    def _class_weight(self, weight, k: int | None = None) -> np.ndarray | None:
        if weight is None:
            return None
        w = np.ascontiguousarray(weight, dtype=np.float32)
        if w.ndim != 1 or (k is not None and w.shape[0] != k):
            raise ValueError(f"{self.name}: expected a 1-D class weight of shape ({'C' if k is None else k},), "
                             f"got shape {w.shape}")
        return w

    def _class_targets(self, target, n: int, k: int, ignore_index: int | None) -> np.ndarray:
        target = np.asarray(target)
        if target.shape != (n,) or not np.issubdtype(target.dtype, np.integer):
            raise ValueError(f"{self.name}: expected integer class targets of shape ({n},), got "
                             f"{target.dtype} {target.shape}")
        if n:
            valid = (target >= 0) & (target < k)
            if ignore_index is not None:
                valid |= target == ignore_index
            if not valid.all():
                bad = target[~valid]
                extra = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
                raise ValueError(f"{self.name}: targets must lie in [0, {k}){extra}, got range "
                                 f"[{target.min()}, {target.max()}] (first bad value {bad[0]})")
        return np.ascontiguousarray(target, dtype=np.int64)

    # --- reduction and upstream gradient -----------------------------------------------------------
    def _reduce(self, losses: np.ndarray, denom: float) -> float | np.ndarray:
        """Reduce the per-element losses; ``denom`` is the "mean" divisor."""
        self._denom = denom
        self._shape = losses.shape
        if self.reduction == "none":
            return self.backend.clone(losses)
        total = self.backend.sum(losses)
        if self.reduction == "sum":
            return total
        return total / denom if denom else math.nan  # e.g. every target ignored: NaN, as PyTorch

    def _started(self) -> None:
        if self._shape is None:
            raise RuntimeError(f"{self.name}.backward called before a forward call")

    def _dloss(self, grad, size: int, per_element: bool) -> np.ndarray:
        """The upstream gradient of each element's loss as float32: shape (size,), or (1,) when uniform
        and the kernel broadcasts (``per_element`` False)."""
        self._started()
        if self.reduction == "none" and np.ndim(grad) > 0:
            g = np.asarray(grad, dtype=np.float32)
            if g.shape != self._shape:
                raise ValueError(f"{self.name}.backward: expected an upstream gradient of shape {self._shape} "
                                 f"(the per-element losses) or a scalar, got shape {g.shape}")
            return self._dev(np.ascontiguousarray(g).reshape(-1), "dloss_in")
        if np.ndim(grad) > 0:
            raise ValueError(f"{self.name}.backward: reduction {self.reduction!r} gives a scalar loss; expected a "
                             f"scalar upstream gradient, got shape {np.shape(grad)}")
        if self.reduction == "mean":
            g = float(grad) / self._denom if self._denom else math.nan
        else:
            g = float(grad)
        out = self._buffer("dloss", (size,) if per_element else (1,))
        self.backend.fill(out, g)
        return out


class CrossEntropyLoss(_Loss):
    """Softmax + cross-entropy on raw logits (N, K) and integer class targets (N,), fused and stable.

    loss_i = sum_k t_ik (logsumexp(z_i) - z_ik) with the soft target
    t_ik = (1 - eps) w[y_i] [k == y_i] + eps/K w_k (eps = ``label_smoothing``, w = ``weight``, default 1),
    0 for targets equal to ``ignore_index``. "mean" divides by sum over non-ignored i of w[y_i] (PyTorch's
    normalization, also for the smoothing term; NaN when every target is ignored, as PyTorch).
    backward() returns dL/dlogits = scale_i (c_i softmax(z_i) - t_i), c_i = sum_k t_ik.
    Without weight/smoothing/ignored targets it runs the plain fused kernel (scale 1/N for "mean").
    """

    def __init__(self, weight: np.ndarray | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0, backend: Backend = CPU) -> None:
        super().__init__(reduction, backend)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.weight = self._class_weight(weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        logits = self._float_input(logits, "logits", "(N, K)", lambda a: a.ndim == 2)
        n, k = logits.shape
        if self.weight is not None and self.weight.shape[0] != k:
            raise ValueError(f"CrossEntropyLoss: weight has {self.weight.shape[0]} entries, expected one per class "
                             f"(K = {k})")
        target = self._class_targets(target, n, k, self.ignore_index)
        self._target = self._dev(target, "target")
        losses = self._buffer("losses", (n,))
        self._probs = self._buffer("probs", (n, k))
        ignored = (target == self.ignore_index) if n else np.zeros(0, bool)
        self._plain = self.weight is None and self.label_smoothing == 0 and not ignored.any()
        if self._plain:
            self.backend.k.softmax_cross_entropy_forward(losses, self._probs, logits, self._target)
            return self._reduce(losses, n)
        w = self._dev(self.weight, "weight") if self.weight is not None else self._ones(k)
        self.backend.k.cross_entropy_forward(losses, self._probs, logits, self._target, w, self.ignore_index,
                                             self.label_smoothing)
        kept = target[~ignored]
        return self._reduce(losses, float(self.weight[kept].sum(dtype=np.float64)) if self.weight is not None
                            else len(kept))

    def _ones(self, k: int) -> np.ndarray:
        ones = self._buffer("ones", (k,))
        self.backend.fill(ones, 1)
        return ones

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        """dL/dlogits for the last forward call, times ``grad`` (the upstream gradient)."""
        if self._shape is None:
            raise RuntimeError("CrossEntropyLoss.backward called before a forward call")
        n, k = self._probs.shape
        dlogits = self._buffer("dlogits", (n, k))
        if self._plain and np.ndim(grad) == 0:
            scale = (grad / n if n else math.nan) if self.reduction == "mean" else grad
            self.backend.k.softmax_cross_entropy_backward(dlogits, self._probs, self._target, float(scale))
            return dlogits
        w = self._dev(self.weight, "weight") if self.weight is not None else self._ones(k)
        dloss = self._dloss(grad, n, per_element=True)
        self.backend.k.cross_entropy_backward(dlogits, self._probs, self._target, w, dloss, self.ignore_index,
                                              self.label_smoothing)
        return dlogits


class NLLLoss(_Loss):
    """Negative log-likelihood on log-probabilities (N, C): loss_i = -w[y_i] input[i, y_i] (0 if ignored);
    "mean" divides by the summed weight of the non-ignored targets."""

    def __init__(self, weight: np.ndarray | None = None, ignore_index: int = -100, reduction: str = "mean",
                 backend: Backend = CPU) -> None:
        super().__init__(reduction, backend)
        self.weight = self._class_weight(weight)
        self.ignore_index = int(ignore_index)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        input = self._float_input(input, "log-probabilities", "(N, C)", lambda a: a.ndim == 2)
        n, c = input.shape
        w = self._class_weight(self.weight, c) if self.weight is not None else None
        target = self._class_targets(target, n, c, self.ignore_index)
        self._target = self._dev(target, "target")
        self._w = w = self._dev(w, "weight") if w is not None else self._buffer("ones", (c,))
        if self.weight is None:
            self.backend.fill(w, 1)
        losses = self._buffer("losses", (n,))
        self.backend.k.nll_forward(losses, input, self._target, w, self.ignore_index)
        kept = target[target != self.ignore_index]
        self._in_shape = input.shape
        return self._reduce(losses, float(self.weight[kept].sum(dtype=np.float64)) if self.weight is not None
                            else float(len(kept)))

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        self._started()
        dloss = self._dloss(grad, self._in_shape[0], per_element=True)
        dinput = self._buffer("dinput", self._in_shape)
        self.backend.k.nll_backward(dinput, self._target, self._w, dloss, self.ignore_index)
        return dinput


class _ElementwiseLoss(_Loss):
    """input and target of the same shape; loss per element; "mean" over all elements."""

    def _prepare(self, input, target):
        input = self._float_input(input, "input", "(any shape)")
        target = self._same_shape_target(input, target)
        self._input, self._target = input, target
        return input, target

    def _finish(self, losses: np.ndarray, weight: np.ndarray | None = None) -> float | np.ndarray:
        if weight is not None:
            losses *= weight
        return self._reduce(losses, losses.size)

    def _grad_weight(self, dloss: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
        if weight is None:
            return dloss
        full = np.broadcast_to(dloss.reshape(-1)[0] if dloss.size == 1 else dloss.reshape(self._shape),
                               self._shape) * weight
        return np.ascontiguousarray(full, dtype=np.float32).reshape(-1)


class MSELoss(_ElementwiseLoss):
    """(input - target)^2."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        x, t = self._prepare(input, target)
        losses = self._buffer("losses", x.shape)
        self.backend.k.mse_forward(losses.reshape(-1), x.reshape(-1), t.reshape(-1))
        return self._finish(losses)

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        self._started()
        dloss = self._dloss(grad, self._input.size, per_element=False)
        dx = self._buffer("dinput", self._input.shape)
        self.backend.k.mse_backward(dx.reshape(-1), self._input.reshape(-1), self._target.reshape(-1), dloss)
        return dx


class L1Loss(_ElementwiseLoss):
    """|input - target|; gradient sign(input - target) (0 where they are equal, as PyTorch)."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        x, t = self._prepare(input, target)
        losses = self._buffer("losses", x.shape)
        self.backend.k.l1_forward(losses.reshape(-1), x.reshape(-1), t.reshape(-1))
        return self._finish(losses)

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        self._started()
        dloss = self._dloss(grad, self._input.size, per_element=False)
        dx = self._buffer("dinput", self._input.shape)
        self.backend.k.l1_backward(dx.reshape(-1), self._input.reshape(-1), self._target.reshape(-1), dloss)
        return dx


def _broadcast_weight(loss: _Loss, weight, shape: tuple[int, ...], what: str = "weight") -> np.ndarray | None:
    if weight is None:
        return None
    try:
        np.broadcast_shapes(np.shape(weight), shape)
        if np.broadcast_shapes(np.shape(weight), shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"{loss.name}: {what} of shape {np.shape(weight)} does not broadcast to the input's shape "
                         f"{shape}") from None
    return np.asarray(weight, dtype=np.float32)


class BCELoss(_ElementwiseLoss):
    """Binary cross-entropy on probabilities in [0, 1]: -(t log x + (1 - t) log(1 - x)), each log clamped
    to >= -100 as PyTorch (finite at x = 0 or 1); gradient (x - t) / max(x (1 - x), 1e-12). ``weight``
    (broadcastable to the input) rescales each element's loss."""

    @property
    def cuda_ok(self) -> bool:  # the weight multiplies on the host
        return self.weight is None

    def __init__(self, weight: np.ndarray | None = None, reduction: str = "mean", backend: Backend = CPU) -> None:
        super().__init__(reduction, backend)
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float32)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        x, t = self._prepare(input, target)
        if x.size and not (x.min() >= 0 and x.max() <= 1):
            raise ValueError(f"BCELoss: all elements of input should be between 0 and 1 (probabilities; use "
                             f"BCEWithLogitsLoss for logits), got range [{x.min()}, {x.max()}]")
        self._w = _broadcast_weight(self, self.weight, x.shape)
        losses = self._buffer("losses", x.shape)
        self.backend.k.bce_forward(losses.reshape(-1), x.reshape(-1), t.reshape(-1))
        return self._finish(losses, self._w)

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        self._started()
        dloss = self._grad_weight(self._dloss(grad, self._input.size, per_element=False), self._w)
        dx = self._buffer("dinput", self._input.shape)
        self.backend.k.bce_backward(dx.reshape(-1), self._input.reshape(-1), self._target.reshape(-1), dloss)
        return dx


class BCEWithLogitsLoss(_ElementwiseLoss):
    """Sigmoid + binary cross-entropy on logits, stable for any logits:
    (1 - t) x + (1 + (pw - 1) t) softplus(-x) with softplus(-x) = max(-x, 0) + log1p(exp(-|x|)).
    ``pos_weight`` (C,) weighs the positive term per class along the last axis (or one value, shape (1,));
    ``weight`` (broadcastable to the input) rescales each element's loss."""

    cuda_ok = False  # weight / pos_weight broadcasting runs on the host

    def __init__(self, weight: np.ndarray | None = None, reduction: str = "mean",
                 pos_weight: np.ndarray | None = None, backend: Backend = CPU) -> None:
        super().__init__(reduction, backend)
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float32)
        if pos_weight is not None:
            pos_weight = np.ascontiguousarray(pos_weight, dtype=np.float32)
            if pos_weight.ndim != 1:
                raise ValueError(f"BCEWithLogitsLoss: expected a 1-D pos_weight of shape (C,), got shape "
                                 f"{pos_weight.shape}")
        self.pos_weight = pos_weight

    def _columns(self, shape: tuple[int, ...]) -> tuple[int, np.ndarray]:
        pw = self.pos_weight
        if pw is None or pw.shape[0] == 1:
            return 1, (pw if pw is not None else np.ones(1, np.float32))
        c = shape[-1] if shape else 1
        if pw.shape[0] != c:
            raise ValueError(f"BCEWithLogitsLoss: pos_weight of shape {pw.shape} does not match the input's last "
                             f"dimension (input shape {shape})")
        return c, pw

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        x, t = self._prepare(input, target)
        c, self._pw = self._columns(x.shape)
        self._w = _broadcast_weight(self, self.weight, x.shape)
        losses = self._buffer("losses", x.shape)
        self.backend.k.bce_with_logits_forward(losses.reshape(-1, c), x.reshape(-1, c), t.reshape(-1, c), self._pw)
        return self._finish(losses, self._w)

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        self._started()
        dloss = self._grad_weight(self._dloss(grad, self._input.size, per_element=False), self._w)
        c = self._pw.shape[0]
        dx = self._buffer("dinput", self._input.shape)
        self.backend.k.bce_with_logits_backward(dx.reshape(-1, c), self._input.reshape(-1, c),
                                                self._target.reshape(-1, c), self._pw, dloss)
        return dx


class KLDivLoss(_ElementwiseLoss):
    """KL divergence with ``input`` = log q (log-probabilities) and ``target`` = p (or log p when
    ``log_target``): p (log p - input) pointwise (0 where p = 0). Reductions as PyTorch: "batchmean"
    (sum / batch size, the true KL; recommended), "mean" (over all elements), "sum", "none"."""

    cuda_ok = False  # "batchmean" and log_target bookkeeping run on the host

    reductions = ("mean", "sum", "none", "batchmean")

    def __init__(self, reduction: str = "mean", log_target: bool = False, backend: Backend = CPU) -> None:
        super().__init__(reduction, backend)
        self.log_target = bool(log_target)

    def forward(self, input: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        x, t = self._prepare(input, target)
        losses = self._buffer("losses", x.shape)
        self.backend.k.kl_div_forward(losses.reshape(-1), x.reshape(-1), t.reshape(-1), self.log_target)
        if self.reduction == "batchmean":
            self._shape = losses.shape
            self._denom = x.shape[0] if x.ndim else 1
            return float(losses.sum(dtype=np.float64)) / self._denom
        return self._finish(losses)

    def _dloss(self, grad, size, per_element):
        if self.reduction == "batchmean":
            if np.ndim(grad) > 0:
                raise ValueError(f"KLDivLoss.backward: reduction 'batchmean' gives a scalar loss; expected a "
                                 f"scalar upstream gradient, got shape {np.shape(grad)}")
            out = self._buffer("dloss", (1,))
            out[...] = float(grad) / self._denom
            return out
        return super()._dloss(grad, size, per_element)

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        self._started()
        dloss = self._dloss(grad, self._input.size, per_element=False)
        dx = self._buffer("dinput", self._input.shape)
        self.backend.k.kl_div_backward(dx.reshape(-1), self._target.reshape(-1), dloss, self.log_target)
        return dx


class DistillationLoss(_Loss):
    """Knowledge distillation (Hinton et al., 2015), per sample:

        loss_i = (1 - alpha) CE(student_i, y_i) + alpha T^2 KL(softmax(teacher_i / T) || softmax(student_i / T))

    reduced over the batch with ``reduction`` ("mean": the KL term is then KLDivLoss's "batchmean").
    Call as ``loss(student_logits, y, teacher_logits)``; ``backward()`` returns dL/dstudent_logits =
    scale ((1 - alpha)(softmax(s) - onehot(y)) + alpha T (softmax(s/T) - softmax(t/T))). The teacher gets
    no gradient. Computed with log-softmax throughout: finite for any logits.
    """

    cuda_ok = False

    def __init__(self, T: float = 4.0, alpha: float = 0.5, reduction: str = "mean", backend: Backend = CPU) -> None:
        super().__init__(reduction, backend)
        if not float(T) > 0:
            raise ValueError(f"DistillationLoss: temperature T must be > 0, got {T!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"DistillationLoss: alpha must be in [0, 1], got {alpha!r}")
        self.T, self.alpha = float(T), float(alpha)

    def __call__(self, student_logits: np.ndarray, target: np.ndarray,  # type: ignore[override]
                 teacher_logits: np.ndarray) -> float | np.ndarray:
        return self.forward(student_logits, target, teacher_logits)

    def forward(self, student_logits: np.ndarray, target: np.ndarray,  # type: ignore[override]
                teacher_logits: np.ndarray) -> float | np.ndarray:
        s = self._float_input(student_logits, "student logits", "(N, K)", lambda a: a.ndim == 2)
        t = self._float_input(teacher_logits, "teacher logits", f"{s.shape} (the student's)",
                              lambda a: a.shape == s.shape)
        n, k = s.shape
        self._target = self._class_targets(target, n, k, None)
        losses = self._buffer("losses", (n,))
        self._probs = self._buffer("probs", (n, k))
        self._soft_s = self._buffer("soft_student", (n, k))
        self._soft_t = self._buffer("soft_teacher", (n, k))
        self.backend.k.distillation_forward(losses, self._probs, self._soft_s, self._soft_t, s, t, self._target,
                                            self.T, self.alpha)
        return self._reduce(losses, n)

    def backward(self, grad: float | np.ndarray = 1.0) -> np.ndarray:
        self._started()
        n, k = self._probs.shape
        dloss = self._dloss(grad, n, per_element=True)
        ds = self._buffer("dstudent", (n, k))
        self.backend.k.distillation_backward(ds, self._probs, self._soft_s, self._soft_t, self._target, dloss,
                                             self.T, self.alpha)
        return ds


__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
           "DistillationLoss"]
