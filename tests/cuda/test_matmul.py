"""kernels.cuda.matmul (gemm, batched_gemm, linear) == kernels.reference.matmul on the simulator.

Tiny shapes that straddle the 64x64 output tile and the 16-deep K tile (1, 5, 17, 33, 70), batch 1,
every fused activation, dw/db accumulation, need_dx, and a K long enough to take the split-K path.
"""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

import kernels.cuda.matmul as cu
import kernels.reference.matmul as ref
from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH

TOL = {np.float32: 1e-5, np.float64: 1e-10}
DTYPES = [np.float32, np.float64]
ACTS = [(ACT_NONE, 0.0), (ACT_RELU, 0.0), (ACT_LEAKY_RELU, 0.1), (ACT_SIGMOID, 0.0), (ACT_TANH, 0.0)]


def close(got, want, dtype, what=""):
    tol = TOL[dtype]
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max(initial=0))),
                               err_msg=what)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def test_signatures_match_cpu():
    import inspect

    import kernels.cpu.matmul as cpu
    assert cu.__all__ == cpu.__all__ == ref.__all__
    for name in cu.__all__:
        assert inspect.signature(getattr(cu, name)) == inspect.signature(getattr(cpu, name)), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mnk", [(1, 1, 1), (5, 17, 33), (33, 5, 17), (17, 33, 5), (70, 1, 3), (2, 3, 100)])
def test_gemm(mnk, dtype):
    """c = alpha*a@b + beta*c; (2, 3, 100) has one output tile and K = 7 tiles: the split-K path."""
    m, n, k = mnk
    rng = np.random.default_rng(sum(mnk))
    a, b, c0 = randn(rng, (m, k), dtype), randn(rng, (k, n), dtype), randn(rng, (m, n), dtype)
    want = c0.copy()
    ref.gemm(want, a, b, 0.5, -2.0)
    c = dev(c0)
    cu.gemm(c, dev(a), dev(b), 0.5, -2.0)
    close(host(c), want, dtype)


def test_gemm_beta_zero_ignores_c():
    """beta == 0 does not read c (BLAS convention): the NaN-filled output is fully overwritten."""
    rng = np.random.default_rng(3)
    a, b = randn(rng, (5, 17), np.float32), randn(rng, (17, 33), np.float32)
    c = empty_like(np.zeros((5, 33), np.float32))
    cu.gemm(c, dev(a), dev(b), 1.0, 0.0)
    want = np.full((5, 33), np.nan, np.float32)
    ref.gemm(want, a, b, 1.0, 0.0)
    close(host(c), want, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_gemm(dtype):
    rng = np.random.default_rng(4)
    a, b = randn(rng, (3, 5, 17), dtype), randn(rng, (3, 17, 6), dtype)
    want = np.empty((3, 5, 6), dtype)
    ref.batched_gemm(want, a, b)
    c = empty_like(want)
    cu.batched_gemm(c, dev(a), dev(b))
    close(host(c), want, dtype)


def linear_case(n, k, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return randn(rng, (n, k), dtype), (randn(rng, (m, k), dtype) / np.sqrt(k)).astype(dtype), randn(rng, m, dtype)


FORWARD = [((17, 33, 5), dt, *a) for dt in DTYPES for a in ACTS] + [((1, 5, 3), dt, *ACTS[1]) for dt in DTYPES]


@pytest.mark.parametrize("shape,dtype,act,alpha", FORWARD)
def test_linear_forward(shape, dtype, act, alpha):
    x, w, b = linear_case(*shape, dtype)
    want = np.empty((shape[0], shape[2]), dtype)
    ref.linear_forward(want, x, w, b, act, alpha, 1)
    y = empty_like(want)
    cu.linear_forward(y, dev(x), dev(w), dev(b), act, alpha, 1)
    close(host(y), want, dtype)


# (shape (N, K, M), dtype, (act, alpha), need_dx): every activation grad, both dtypes, batch 1
BACKWARD = [((17, 33, 5), np.float32, ACTS[0], True), ((17, 33, 5), np.float64, ACTS[1], True),
            ((17, 33, 5), np.float32, ACTS[2], False), ((1, 5, 3), np.float64, ACTS[3], True),
            ((1, 5, 3), np.float32, ACTS[4], False), ((70, 3, 2), np.float64, ACTS[2], True)]


@pytest.mark.parametrize("shape,dtype,act_alpha,need_dx", BACKWARD)
def test_linear_backward(shape, dtype, act_alpha, need_dx):
    """dw/db accumulate onto nonzero starts; dx untouched when need_dx is False; (70, 3, 2): split-K dw."""
    n, k, m = shape
    act, alpha = act_alpha
    x, w, b = linear_case(*shape, dtype)
    rng = np.random.default_rng(1)
    y = np.empty((n, m), dtype)
    ref.linear_forward(y, x, w, b, act, alpha, 1)
    dy, dw0, db0 = randn(rng, (n, m), dtype), randn(rng, (m, k), dtype), randn(rng, m, dtype)
    want = [np.full(x.shape, 7.0, dtype), dw0.copy(), db0.copy()]
    ref.linear_backward(*want, None, None, dy, x, w, y, act, alpha, need_dx, 1)
    got = [dev(np.full(x.shape, 7.0, dtype)), dev(dw0), dev(db0)]
    ws_g, ws_dw = empty_like(y), empty_like(np.zeros(cu.linear_workspace_shape(n, k, m, 1), dtype))
    cu.linear_backward(*got, ws_g, ws_dw, dev(dy), dev(x), dev(w), dev(y), act, alpha, need_dx, 1)
    for name, g, r in zip(("dx", "dw", "db"), got, want):
        close(host(g), r, dtype, what=name)


def test_host_array_rejected():
    x, w, b = linear_case(2, 3, 4, np.float32)
    y = empty_like(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="'w'"):
        cu.linear_forward(y, dev(x), w, dev(b), ACT_NONE, 0.0, 1)
    with pytest.raises(TypeError, match="'b'"):
        cu.gemm(y, dev(x), np.zeros((3, 4), np.float32), 1.0, 0.0)
