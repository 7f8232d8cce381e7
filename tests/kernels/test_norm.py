"""layernorm / instancenorm / lrn forward and backward: reference == cpu (float32, float64, odd shapes, batch 1,
C=1, serial and parallel paths), PyTorch's functional ops (values, running statistics, autograd) and float64
central-difference gradchecks on both backends."""

import fastnn  # noqa: F401, I001  # isort: skip

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum

import kernels

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]
EPS = 1e-5


def ids(shapes):
    return ["x".join(map(str, s)) for s in shapes]


# ------------------------------------------------------------------------------------ layernorm

# (M, D, nchunks)
LN_CASES = [(1, 1, 1), (1, 7, 1), (5, 3, 1), (6, 11, 2), (9, 16, 4), (3, 5, 3), (64, 600, 2)]


def ln_params(d, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, d).astype(dtype), rng.standard_normal(d).astype(dtype)


def ln_forward(mod, x, gamma, beta, nchunks):
    m = x.shape[0]
    y = np.full(x.shape, np.nan, x.dtype)
    mean, invstd = np.full(m, np.nan, x.dtype), np.full(m, np.nan, x.dtype)
    mod.layernorm_forward(y, mean, invstd, x, gamma, beta, EPS, nchunks)
    return y, mean, invstd


def ln_backward(mod, dy, x, mean, invstd, gamma, nchunks, seed_grads=True):
    d = x.shape[1]
    dx = np.full(x.shape, np.nan, x.dtype)
    dgamma = np.full(d, 0.25 if seed_grads else 0, x.dtype)
    dbeta = np.full(d, -0.5 if seed_grads else 0, x.dtype)
    ws = np.full((nchunks, 2, d), np.nan, x.dtype)
    mod.layernorm_backward(dx, dgamma, dbeta, ws, dy, x, mean, invstd, gamma, nchunks)
    return dx, dgamma, dbeta


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LN_CASES, ids=ids(LN_CASES))
def test_layernorm_reference_equals_cpu_and_torch(case, dtype):
    m, d, nchunks = case
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((m, d)) * 2 + 0.5).astype(dtype)
    dy = rng.standard_normal((m, d)).astype(dtype)
    gamma, beta = ln_params(d, dtype)
    ref = ln_forward(REF, x, gamma, beta, nchunks)
    cpu = ln_forward(CPU, x, gamma, beta, nchunks)
    for name, a, b in zip(("y", "mean", "invstd"), cpu, ref):
        assert_close(a, b, dtype, what=name)
    gref = ln_backward(REF, dy, x, ref[1], ref[2], gamma, nchunks)
    gcpu = ln_backward(CPU, dy, x, ref[1], ref[2], gamma, nchunks)
    for name, a, b in zip(("dx", "dgamma", "dbeta"), gcpu, gref):
        assert_close(a, b, dtype, tol=5e-5 if dtype == np.float32 else None, what=name)
    tx = torch.tensor(x, requires_grad=True)
    tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    ty = F.layer_norm(tx, (d,), tg, tb, EPS)
    ty.backward(torch.from_numpy(dy))
    tol = 5e-5 if dtype == np.float32 else 1e-10
    assert_close(ref[0], ty.detach().numpy(), dtype, tol=tol, what="y vs torch")
    assert_close(gref[0], tx.grad.numpy(), dtype, tol=tol, what="dx vs torch")
    assert_close(gref[1] - 0.25, tg.grad.numpy(), dtype, tol=tol, what="dgamma vs torch")
    assert_close(gref[2] + 0.5, tb.grad.numpy(), dtype, tol=tol, what="dbeta vs torch")


@pytest.mark.parametrize("nchunks", [1, 3])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_layernorm_gradcheck(backend, nchunks):
    mod = BACKENDS[backend]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6))
    gamma, beta = ln_params(6, np.float64, seed=3)
    r = rng.standard_normal(x.shape)
    _, mean, invstd = ln_forward(mod, x, gamma, beta, nchunks)
    dx, dgamma, dbeta = ln_backward(mod, r, x, mean, invstd, gamma, nchunks, seed_grads=False)
    loss = weighted_sum(lambda: ln_forward(mod, x, gamma, beta, nchunks)[0], r)
    assert_grad_close(dx, numerical_grad(loss, x), what="dx")
    assert_grad_close(dgamma, numerical_grad(loss, gamma), what="dgamma")
    assert_grad_close(dbeta, numerical_grad(loss, beta), what="dbeta")


# ------------------------------------------------------------------------------------ instancenorm

# (N, C, S); the last one takes the parallel path
IN_SHAPES = [(1, 1, 2), (2, 3, 5), (3, 1, 7), (1, 4, 9), (4, 5, 2), (3, 8, 1500)]


def in_forward(mod, x, gamma, beta, rm, rv, momentum=0.1, update=True):
    n, c, _ = x.shape
    y = np.full(x.shape, np.nan, x.dtype)
    mean, invstd = np.full((n, c), np.nan, x.dtype), np.full((n, c), np.nan, x.dtype)
    rm, rv = rm.copy(), rv.copy()
    mod.instancenorm_forward(y, mean, invstd, rm, rv, x, gamma, beta, EPS, momentum, update)
    return y, mean, invstd, rm, rv


def in_backward(mod, dy, x, mean, invstd, gamma, seed_grads=True):
    n, c, _ = x.shape
    dx = np.full(x.shape, np.nan, x.dtype)
    dgamma = np.full(c, 0.25 if seed_grads else 0, x.dtype)
    dbeta = np.full(c, -0.5 if seed_grads else 0, x.dtype)
    ws = np.full((n, c, 2), np.nan, x.dtype)
    mod.instancenorm_backward(dx, dgamma, dbeta, ws, dy, x, mean, invstd, gamma)
    return dx, dgamma, dbeta


def in_data(shape, dtype, seed=4):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return ((rng.standard_normal(shape) * 1.3 - 0.4).astype(dtype), rng.uniform(0.5, 1.5, c).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype),
            rng.uniform(0.5, 2, c).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", IN_SHAPES, ids=ids(IN_SHAPES))
def test_instancenorm_reference_equals_cpu_and_torch(shape, dtype):
    x, gamma, beta, rm, rv = in_data(shape, dtype)
    dy = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    ref = in_forward(REF, x, gamma, beta, rm, rv)
    cpu = in_forward(CPU, x, gamma, beta, rm, rv)
    for name, a, b in zip(("y", "mean", "invstd", "running_mean", "running_var"), cpu, ref):
        assert_close(a, b, dtype, what=name)
    gref = in_backward(REF, dy, x, ref[1], ref[2], gamma)
    gcpu = in_backward(CPU, dy, x, ref[1], ref[2], gamma)
    for name, a, b in zip(("dx", "dgamma", "dbeta"), gcpu, gref):
        assert_close(a, b, dtype, what=name)
    # PyTorch: instance_norm on (N, C, S) with running statistics
    tx = torch.tensor(x, requires_grad=True)
    tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    ty = F.instance_norm(tx, trm, trv, tg, tb, use_input_stats=True, momentum=0.1, eps=EPS)
    ty.backward(torch.from_numpy(dy))
    tol = 5e-5 if dtype == np.float32 else 1e-10
    assert_close(ref[0], ty.detach().numpy(), dtype, tol=tol, what="y vs torch")
    assert_close(ref[3], trm.numpy(), dtype, tol=tol, what="running_mean vs torch")
    assert_close(ref[4], trv.numpy(), dtype, tol=tol, what="running_var vs torch")
    assert_close(gref[0], tx.grad.numpy(), dtype, tol=tol, what="dx vs torch")
    assert_close(gref[1] - 0.25, tg.grad.numpy(), dtype, tol=tol, what="dgamma vs torch")
    assert_close(gref[2] + 0.5, tb.grad.numpy(), dtype, tol=tol, what="dbeta vs torch")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_instancenorm_without_update_leaves_running_stats(backend):
    x, gamma, beta, rm, rv = in_data((2, 3, 4), np.float64)
    out = in_forward(BACKENDS[backend], x, gamma, beta, rm, rv, update=False)
    np.testing.assert_array_equal(out[3], rm)
    np.testing.assert_array_equal(out[4], rv)


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 2, 5)], ids=["2x3x4", "1x2x5"])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_instancenorm_gradcheck(backend, shape):
    mod = BACKENDS[backend]
    x, gamma, beta, rm, rv = in_data(shape, np.float64, seed=6)
    r = np.random.default_rng(7).standard_normal(shape)
    _, mean, invstd, _, _ = in_forward(mod, x, gamma, beta, rm, rv)
    dx, dgamma, dbeta = in_backward(mod, r, x, mean, invstd, gamma, seed_grads=False)
    loss = weighted_sum(lambda: in_forward(mod, x, gamma, beta, rm, rv)[0], r)
    assert_grad_close(dx, numerical_grad(loss, x), what="dx")
    assert_grad_close(dgamma, numerical_grad(loss, gamma), what="dgamma")
    assert_grad_close(dbeta, numerical_grad(loss, beta), what="dbeta")


# ------------------------------------------------------------------------------------ LRN

# (N, C, S, size): even and odd windows, windows wider than C, C=1; the last takes the parallel path
LRN_CASES = [(1, 1, 3, 3), (2, 5, 4, 3), (2, 6, 3, 4), (1, 4, 5, 1), (3, 3, 2, 7), (2, 7, 1, 2), (4, 16, 600, 5)]


def lrn(mod, x, size, alpha, beta, k):
    y = np.full(x.shape, np.nan, x.dtype)
    scale = np.full(x.shape, np.nan, x.dtype)
    mod.lrn_forward(y, scale, x, size, alpha, beta, k)
    return y, scale


def lrn_back(mod, dy, x, y, scale, size, alpha, beta, k):
    dx = np.full(x.shape, np.nan, x.dtype)
    ws = np.full(x.shape, np.nan, x.dtype)
    mod.lrn_backward(dx, ws, dy, x, y, scale, size, alpha, beta, k)
    return dx


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LRN_CASES, ids=ids(LRN_CASES))
def test_lrn_reference_equals_cpu_and_torch(case, dtype):
    n, c, s, size = case
    alpha, beta, k = 0.3, 0.75, 1.5  # large alpha: the window term matters at float32 precision
    rng = np.random.default_rng(8)
    x = rng.standard_normal((n, c, s)).astype(dtype)
    dy = rng.standard_normal((n, c, s)).astype(dtype)
    y_ref, sc_ref = lrn(REF, x, size, alpha, beta, k)
    y_cpu, sc_cpu = lrn(CPU, x, size, alpha, beta, k)
    assert_close(y_cpu, y_ref, dtype, what="y")
    assert_close(sc_cpu, sc_ref, dtype, what="scale")
    dx_ref = lrn_back(REF, dy, x, y_ref, sc_ref, size, alpha, beta, k)
    dx_cpu = lrn_back(CPU, dy, x, y_ref, sc_ref, size, alpha, beta, k)
    assert_close(dx_cpu, dx_ref, dtype, what="dx")
    tx = torch.tensor(x, requires_grad=True)
    ty = F.local_response_norm(tx, size, alpha, beta, k)
    ty.backward(torch.from_numpy(dy))
    tol = 5e-5 if dtype == np.float32 else 1e-10
    assert_close(y_ref, ty.detach().numpy(), dtype, tol=tol, what="y vs torch")
    assert_close(dx_ref, tx.grad.numpy(), dtype, tol=tol, what="dx vs torch")


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_lrn_gradcheck(backend, size):
    mod = BACKENDS[backend]
    alpha, beta, k = 0.5, 0.75, 1.0
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 3))
    r = rng.standard_normal(x.shape)
    y, scale = lrn(mod, x, size, alpha, beta, k)
    dx = lrn_back(mod, r, x, y, scale, size, alpha, beta, k)
    numeric = numerical_grad(weighted_sum(lambda: lrn(mod, x, size, alpha, beta, k)[0], r), x)
    assert_grad_close(dx, numeric)
