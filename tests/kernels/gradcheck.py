"""Small helpers shared by the kernel tests: finite-difference gradients and scaled comparisons.

``numerical_grad(loss, x)`` is the float64 central difference d loss() / d x, where ``loss`` is a
zero-argument callable that reads ``x`` (perturbed in place, restored afterwards) and returns a
scalar. Tests build ``loss`` as ``sum(f(x) * r)`` with a fixed random ``r`` via ``weighted_sum``, so
the analytic gradient is the backward kernel applied to ``dy = r``.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6
GRAD_RTOL = 1e-6


def numerical_grad(loss, x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Central differences (loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps) for every entry of x."""
    assert x.dtype == np.float64 and x.flags.c_contiguous, "gradcheck needs a C-contiguous float64 array"
    flat = x.reshape(-1)
    assert np.shares_memory(flat, x)
    grad = np.zeros(x.size, dtype=np.float64)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float(loss())
        flat[i] = old - eps
        minus = float(loss())
        flat[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad.reshape(x.shape)


def weighted_sum(forward, r: np.ndarray):
    """The scalar loss sum(forward() * r) as a zero-argument callable."""
    return lambda: float(np.sum(forward() * r))


def assert_grad_close(analytic, numeric, rtol: float = GRAD_RTOL, what: str = "") -> None:
    """Analytic vs finite-difference gradient: relative 1e-6 of the entry, floored at 1e-6 of max |grad|."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    assert analytic.shape == numeric.shape, what
    scale = max(float(np.abs(numeric).max(initial=0.0)), 1e-3)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=rtol * scale, err_msg=what)


TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


def assert_close(actual, expected, dtype=None, tol: float | None = None, what: str = "") -> None:
    """Compare two backends' outputs: rtol = tol, atol = tol * max(1, max |expected|)."""
    expected = np.asarray(expected)
    dtype = np.dtype(dtype if dtype is not None else expected.dtype)
    tol = TOL[dtype] if tol is None else tol
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)
