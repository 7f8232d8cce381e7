"""Gradient clipping over the flat gradient buffer (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``).

The parameters of a built model share one flat gradient buffer (DESIGN §3), so the global norm is
ONE reduction kernel over it and the rescale ONE elementwise kernel. When the parameters cover only
part of a buffer (a subset of the model) the kernels run over that subset's [start, end) ranges;
parameters that live outside any flat buffer are handled as one range each.

Differences from PyTorch: the norm is accumulated in float64 (PyTorch: float32 per tensor, then the
norm of the per-tensor norms), so the returned norm and the clip coefficient can differ in the 7th
digit; the norm is returned as a Python float, not a tensor; ``norm_type`` must be > 0 (PyTorch also
accepts 0 and -inf); gradients are left untouched when no clipping is needed (PyTorch multiplies
by 1.0, which changes nothing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from fastnn.backend import CPU, Backend
from fastnn.optim.base import PARALLEL_MIN_LIGHT
from fastnn.params import Parameter

__all__ = ["clip_grad_norm_", "clip_grad_value_", "grad_norm"]


def _tables(parameters) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int, Backend]]:
    """[(flat gradient array, seg_start, seg_end, covered size, backend)] for the parameters' gradients
    (the segment tables on the gradients' device)."""
    params = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"expected fastnn Parameters, got {type(p).__name__}")
    owners: dict[int, list[Parameter]] = {}
    loose = []
    for p in params:
        if p.flat is None:
            loose.append(p)
        else:
            owners.setdefault(id(p.flat), []).append(p)
    out = []
    for group in owners.values():
        flat = group[0].flat
        if len(group) == len(flat.params) and all(a is b for a, b in zip(group, flat.params)):
            ranges = [(0, flat.size)]  # the whole model: one segment
        else:
            if len({id(p) for p in group}) != len(group):
                raise ValueError("a parameter appears more than once")
            ranges = flat.ranges(group)
        b = flat.backend
        out.append((flat.grad, b.to_device(np.array([s for s, _ in ranges], dtype=np.int64)),
                    b.to_device(np.array([e for _, e in ranges], dtype=np.int64)), sum(e - s for s, e in ranges), b))
    for p in loose:
        out.append((p.grad.reshape(-1), np.zeros(1, np.int64), np.array([p.size], np.int64), p.size, CPU))
    return out


def _k(name: str, size: int, backend: Backend):
    """Kernel ``name``, its prange twin (CPU) for buffers of at least PARALLEL_MIN_LIGHT elements."""
    k = backend.k
    if size >= PARALLEL_MIN_LIGHT:
        return getattr(k, name + "_parallel", None) or getattr(k, name)
    return getattr(k, name)


def _total_norm(tables, norm_type: float) -> float:
    parts = []
    for grad, start, end, size, backend in tables:
        out = backend.zeros((1,), np.float64)
        if norm_type == 2.0:
            _k("sumsq", size, backend)(out, grad, start, end)
        elif norm_type == math.inf:
            backend.k.absmax(out, grad, start, end)
        else:
            backend.k.sum_abs_pow(out, grad, start, end, norm_type)
        parts.append(float(backend.to_host(out)[0]))
    if not parts:
        return 0.0
    if norm_type == math.inf:
        return float(np.max(parts))  # propagates NaN
    total = sum(parts)
    return math.sqrt(total) if norm_type == 2.0 else total ** (1.0 / norm_type)


def _norm_type(norm_type) -> float:
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 (a p-norm or inf), got {norm_type}")
    return norm_type


def grad_norm(parameters: Iterable[Parameter] | Parameter, norm_type: float = 2.0) -> float:
    """The norm of all the parameters' gradients together (as if concatenated into one vector)."""
    return _total_norm(_tables(parameters), _norm_type(norm_type))


def clip_grad_norm_(parameters: Iterable[Parameter] | Parameter, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Rescale the gradients so that their joint ``norm_type``-norm is at most ``max_norm``; return the norm
    before clipping. As PyTorch: coef = max_norm / (norm + 1e-6), applied when below 1; a non-finite norm
    raises RuntimeError with ``error_if_nonfinite=True``, else it scales the gradients (to NaN / zero)."""
    norm_type = _norm_type(norm_type)
    tables = _tables(parameters)
    total = _total_norm(tables, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite "
                           f"({total}), so it cannot be clipped. To disable this error and scale the gradients by "
                           f"the non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):
        for grad, start, end, size, backend in tables:
            _k("scale", size, backend)(grad, start, end, coef)
    return total


def clip_grad_value_(parameters: Iterable[Parameter] | Parameter, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value] in place (NaN stays NaN), as PyTorch."""
    clip_value = float(clip_value)
    for grad, start, end, size, backend in _tables(parameters):
        _k("clip_value", size, backend)(grad, start, end, clip_value)

from fastnn.nn.utils_fold import fold_batchnorm  # noqa: F401, E402
