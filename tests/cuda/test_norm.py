"""kernels.cuda.norm (simulator) == kernels.reference.norm: layernorm, instancenorm (with and without the
running-stat update) and lrn, forward and backward (dgamma / dbeta accumulate), float32 and float64; rows
and planes of one value, batch 1, one channel, lengths above and not a multiple of THREADS, layernorm's
parameter gradients over several row chunks, lrn windows even, odd, wider than C and C = 1."""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cuda import norm as cuda_norm
from kernels.reference import norm as ref_norm

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}
EPS = 1e-5


def ids(cases):
    return ["x".join(np.dtype(v).name if isinstance(v, type) else str(v) for v in c) for c in cases]


def close(a, b, dtype, what):
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def params(c, dtype, rng):
    return rng.uniform(0.5, 1.5, c).astype(dtype), rng.standard_normal(c).astype(dtype)


# ------------------------------------------------------------------------------------ layernorm

# The simulator runs a block's THREADS threads as Python threads (~0.3 s per block and kernel) and these
# kernels run one block per row / plane: few rows, and each case in one dtype unless it matters for both.
F32, F64 = np.float32, np.float64

# (M, D, LN_ROWS, dtype): LN_ROWS = 2 splits the parameter-gradient sums into chunks (the last one short)
LN_CASES = [(1, 1, 32, F64), (1, 7, 32, F32), (2, 5, 32, F64), (2, 300, 32, F32), (3, 3, 2, F32), (3, 3, 2, F64)]


@pytest.mark.parametrize("case", LN_CASES, ids=ids(LN_CASES))
def test_layernorm(case, monkeypatch):
    m, d, rows, dtype = case
    monkeypatch.setattr(cuda_norm, "LN_ROWS", rows)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((m, d)) * 2 + 0.5).astype(dtype)
    dy = rng.standard_normal((m, d)).astype(dtype)
    gamma, beta = params(d, dtype, rng)
    ref = [np.zeros_like(x), np.zeros(m, dtype), np.zeros(m, dtype)]
    ref_norm.layernorm_forward(*ref, x, gamma, beta, EPS, 1)
    out = [empty_like(x), empty_like(ref[1]), empty_like(ref[2])]
    cuda_norm.layernorm_forward(*out, dev(x), dev(gamma), dev(beta), EPS, 1)
    for name, a, b in zip(("y", "mean", "invstd"), out, ref):
        close(host(a), b, dtype, name)

    gref = [np.zeros_like(x), np.full(d, 0.25, dtype), np.full(d, -0.5, dtype)]
    ref_norm.layernorm_backward(*gref, np.zeros((1, 2, d), dtype), dy, x, ref[1], ref[2], gamma, 1)
    gout = [empty_like(x), dev(gref[1] * 0 + 0.25), dev(gref[2] * 0 - 0.5)]
    cuda_norm.layernorm_backward(*gout, empty_like(np.zeros((1, 2, d), dtype)), dev(dy), dev(x), dev(ref[1]),
                                 dev(ref[2]), dev(gamma), 1)
    for name, a, b in zip(("dx", "dgamma", "dbeta"), gout, gref):
        close(host(a), b, dtype, name)


# ------------------------------------------------------------------------------------ instancenorm

# (N, C, S, update_running, dtype); S = 1: one value per plane (running_var NaN, as the reference)
IN_CASES = [(1, 1, 2, True, F32), (2, 2, 5, True, F64), (2, 2, 5, True, F32), (3, 1, 7, False, F64),
            (1, 2, 300, True, F32), (1, 1, 300, False, F64), (2, 1, 1, True, F64)]


@pytest.mark.parametrize("case", IN_CASES, ids=ids(IN_CASES))
def test_instancenorm(case):
    n, c, s, update, dtype = case
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((n, c, s)) * 1.3 - 0.4).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    gamma, beta = params(c, dtype, rng)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    ref = [np.zeros_like(x), np.zeros((n, c), dtype), np.zeros((n, c), dtype), rm.copy(), rv.copy()]
    with np.errstate(divide="ignore", invalid="ignore"):  # S = 1: running_var * S / (S - 1) is NaN
        ref_norm.instancenorm_forward(*ref, x, gamma, beta, EPS, 0.1, update)
    out = [empty_like(x), empty_like(ref[1]), empty_like(ref[2]), dev(rm), dev(rv)]
    cuda_norm.instancenorm_forward(*out, dev(x), dev(gamma), dev(beta), EPS, 0.1, update)
    for name, a, b in zip(("y", "mean", "invstd", "running_mean", "running_var"), out, ref):
        close(host(a), b, dtype, name)
    if not update:
        np.testing.assert_array_equal(host(out[3]), rm)
        np.testing.assert_array_equal(host(out[4]), rv)

    gref = [np.zeros_like(x), np.full(c, 0.25, dtype), np.full(c, -0.5, dtype)]
    ref_norm.instancenorm_backward(*gref, np.zeros((n, c, 2), dtype), dy, x, ref[1], ref[2], gamma)
    ws = empty_like(np.zeros((n, c, 2), dtype))
    gout = [empty_like(x), dev(np.full(c, 0.25, dtype)), dev(np.full(c, -0.5, dtype))]
    cuda_norm.instancenorm_backward(*gout, ws, dev(dy), dev(x), dev(ref[1]), dev(ref[2]), dev(gamma))
    for name, a, b in zip(("dx", "dgamma", "dbeta"), gout, gref):
        close(host(a), b, dtype, name)


# ------------------------------------------------------------------------------------ LRN

# (N, C, S, size): odd and even windows, windows wider than C, C = 1, S = 1
LRN_CASES = [(1, 1, 3, 3), (2, 5, 4, 3), (2, 6, 3, 4), (1, 4, 5, 1), (3, 3, 2, 7), (2, 7, 1, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LRN_CASES, ids=ids(LRN_CASES))
def test_lrn(case, dtype):
    n, c, s, size = case
    alpha, beta, k = 0.3, 0.75, 1.5
    rng = np.random.default_rng(8)
    x = rng.standard_normal((n, c, s)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    y_ref, sc_ref, dx_ref = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    ref_norm.lrn_forward(y_ref, sc_ref, x, size, alpha, beta, k)
    ref_norm.lrn_backward(dx_ref, np.zeros_like(x), dy, x, y_ref, sc_ref, size, alpha, beta, k)
    y, sc, dx = empty_like(x), empty_like(x), empty_like(x)
    cuda_norm.lrn_forward(y, sc, dev(x), size, alpha, beta, k)
    close(host(y), y_ref, dtype, "y")
    close(host(sc), sc_ref, dtype, "scale")
    cuda_norm.lrn_backward(dx, empty_like(x), dev(dy), dev(x), dev(y_ref), dev(sc_ref), size, alpha, beta, k)
    close(host(dx), dx_ref, dtype, "dx")


def test_host_arrays_are_rejected():
    x = np.ones((2, 3), np.float32)
    g = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="'gamma'"):
        cuda_norm.layernorm_forward(empty_like(x), dev(g[:2]), dev(g[:2]), dev(x), g, dev(g), EPS, 1)
    x3 = np.ones((1, 3, 2), np.float32)
    with pytest.raises(TypeError, match="'ws_sums'"):
        cuda_norm.instancenorm_backward(empty_like(x3), dev(g), dev(g), np.zeros((1, 3, 2), np.float32), dev(x3),
                                        dev(x3), dev(x3[:, :, 0]), dev(x3[:, :, 0]), dev(g))
    with pytest.raises(TypeError, match="'scale'"):
        cuda_norm.lrn_backward(empty_like(x3), empty_like(x3), dev(x3), dev(x3), dev(x3), x3, 3, 1e-4, 0.75, 1.0)
