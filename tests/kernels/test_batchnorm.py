"""batchnorm_forward_train / batchnorm_forward_eval / batchnorm_backward: reference == cpu (float32, float64,
odd shapes, batch 1, C=1, fused ReLU), PyTorch's F.batch_norm (outputs, running statistics, autograd) and
float64 central-difference gradchecks w.r.t. x, gamma and beta on both backends, in training (batch
statistics) and evaluation (running statistics) mode."""

import fastnn  # noqa: F401, I001  # isort: skip

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum

import kernels
from kernels.codes import ACT_NONE, ACT_RELU

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]
EPS = 1e-5

# (N, C, S): S = 1 is BatchNorm1d on (N, C); the large one takes the parallel (prange) path
SHAPES = [(2, 3, 1), (1, 1, 5), (5, 1, 1), (3, 4, 7), (2, 5, 13), (7, 3, 2), (4, 9, 1000)]
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]
ACTS = {"none": ACT_NONE, "relu": ACT_RELU}


def make(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (rng.standard_normal(shape) * 1.5 + 0.7).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, gamma, beta, rm, rv


def train(mod, x, gamma, beta, rm, rv, act=ACT_NONE, momentum=0.1, update=True):
    c = x.shape[1]
    y = np.full(x.shape, np.nan, x.dtype)
    mean, invstd = np.full(c, np.nan, x.dtype), np.full(c, np.nan, x.dtype)
    rm, rv = rm.copy(), rv.copy()
    mod.batchnorm_forward_train(y, mean, invstd, rm, rv, x, gamma, beta, EPS, momentum, update, act)
    return y, mean, invstd, rm, rv


def evaluate(mod, x, gamma, beta, rm, rv, act=ACT_NONE):
    c = x.shape[1]
    y = np.full(x.shape, np.nan, x.dtype)
    mean, invstd = np.full(c, np.nan, x.dtype), np.full(c, np.nan, x.dtype)
    mod.batchnorm_forward_eval(y, mean, invstd, x, gamma, beta, rm, rv, EPS, act)
    return y, mean, invstd


def backward(mod, dy, x, y, mean, invstd, gamma, act, batch_stats, seed_grads=True):
    c = x.shape[1]
    dx = np.full(x.shape, np.nan, x.dtype)
    # start the parameter gradients at non-zero values: the kernels accumulate
    dgamma = np.full(c, 0.25, x.dtype) if seed_grads else np.zeros(c, x.dtype)
    dbeta = np.full(c, -0.5, x.dtype) if seed_grads else np.zeros(c, x.dtype)
    mod.batchnorm_backward(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, act, batch_stats)
    return dx, dgamma, dbeta


# ------------------------------------------------------------------------------------ forward


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_forward_train_reference_equals_cpu_and_torch(shape, dtype, act):
    if shape[0] * shape[2] == 1:
        pytest.skip("one value per channel: no batch statistics")
    x, gamma, beta, rm, rv = make(shape, dtype)
    ref = train(REF, x, gamma, beta, rm, rv, ACTS[act])
    cpu = train(CPU, x, gamma, beta, rm, rv, ACTS[act])
    for name, a, b in zip(("y", "mean", "invstd", "running_mean", "running_var"), cpu, ref):
        assert_close(a, b, dtype, what=name)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    ty = F.batch_norm(torch.from_numpy(x), trm, trv, torch.from_numpy(gamma), torch.from_numpy(beta),
                      training=True, momentum=0.1, eps=EPS)
    if act == "relu":
        ty = F.relu(ty)
    tol = 2e-5 if dtype == np.float32 else 1e-10
    assert_close(ref[0], ty.numpy(), dtype, tol=tol, what="y vs torch")
    assert_close(ref[3], trm.numpy(), dtype, tol=tol, what="running_mean vs torch")
    assert_close(ref[4], trv.numpy(), dtype, tol=tol, what="running_var vs torch (unbiased)")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_forward_train_without_update_leaves_running_stats(backend):
    x, gamma, beta, rm, rv = make((3, 2, 4), np.float64)
    _, _, _, rm2, rv2 = train(BACKENDS[backend], x, gamma, beta, rm, rv, update=False)
    np.testing.assert_array_equal(rm2, rm)
    np.testing.assert_array_equal(rv2, rv)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_forward_train_momentum_one_takes_batch_stats(backend):
    # momentum 1 (PyTorch's momentum=None after the first batch): running stats = batch mean, unbiased var
    x, gamma, beta, rm, rv = make((4, 3, 5), np.float64)
    _, _, _, rm2, rv2 = train(BACKENDS[backend], x, gamma, beta, rm, rv, momentum=1.0)
    np.testing.assert_allclose(rm2, x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(rv2, x.transpose(1, 0, 2).reshape(3, -1).var(axis=1, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_forward_eval_reference_equals_cpu_and_torch(shape, dtype, act):
    x, gamma, beta, rm, rv = make(shape, dtype, seed=1)
    ref = evaluate(REF, x, gamma, beta, rm, rv, ACTS[act])
    cpu = evaluate(CPU, x, gamma, beta, rm, rv, ACTS[act])
    for name, a, b in zip(("y", "mean", "invstd"), cpu, ref):
        assert_close(a, b, dtype, what=name)
    ty = F.batch_norm(torch.from_numpy(x), torch.from_numpy(rm), torch.from_numpy(rv), torch.from_numpy(gamma),
                      torch.from_numpy(beta), training=False, eps=EPS)
    if act == "relu":
        ty = F.relu(ty)
    assert_close(ref[0], ty.numpy(), dtype, tol=2e-5 if dtype == np.float32 else 1e-10)


def test_forward_large_mean_is_stable():
    # |mean| >> std: two-pass (centered) statistics keep float32 accurate
    rng = np.random.default_rng(3)
    x = (1000 + rng.standard_normal((8, 2, 300))).astype(np.float32)
    gamma, beta = np.ones(2, np.float32), np.zeros(2, np.float32)
    y, *_ = train(CPU, x, gamma, beta, np.zeros(2, np.float32), np.ones(2, np.float32))
    x64 = x.astype(np.float64)
    expect = (x64 - x64.mean(axis=(0, 2), keepdims=True)) / np.sqrt(x64.var(axis=(0, 2), keepdims=True) + EPS)
    np.testing.assert_allclose(y, expect, atol=1e-3)


# ------------------------------------------------------------------------------------ backward


@pytest.mark.parametrize("batch_stats", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_backward_reference_equals_cpu_and_torch(shape, dtype, act, batch_stats):
    if batch_stats and shape[0] * shape[2] == 1:
        pytest.skip("one value per channel: no batch statistics")
    x, gamma, beta, rm, rv = make(shape, dtype, seed=2)
    dy = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    if batch_stats:
        y, mean, invstd, _, _ = train(REF, x, gamma, beta, rm, rv, ACTS[act])
    else:
        y, mean, invstd = evaluate(REF, x, gamma, beta, rm, rv, ACTS[act])
    ref = backward(REF, dy, x, y, mean, invstd, gamma, ACTS[act], batch_stats)
    cpu = backward(CPU, dy, x, y, mean, invstd, gamma, ACTS[act], batch_stats)
    for name, a, b in zip(("dx", "dgamma", "dbeta"), cpu, ref):
        assert_close(a, b, dtype, what=name)
    tx = torch.tensor(x, requires_grad=True)
    tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    ty = F.batch_norm(tx, torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy()), tg, tb, training=batch_stats,
                      eps=EPS)
    if act == "relu":
        ty = F.relu(ty)
    ty.backward(torch.from_numpy(dy))
    tol = 5e-5 if dtype == np.float32 else 1e-10
    assert_close(ref[0], tx.grad.numpy(), dtype, tol=tol, what="dx vs torch")
    assert_close(ref[1] - 0.25, tg.grad.numpy(), dtype, tol=tol, what="dgamma vs torch")
    assert_close(ref[2] + 0.5, tb.grad.numpy(), dtype, tol=tol, what="dbeta vs torch")


GRAD_SHAPES = [(2, 3, 1), (1, 2, 5), (3, 2, 4), (4, 1, 3)]


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("batch_stats", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", GRAD_SHAPES, ids=["x".join(map(str, s)) for s in GRAD_SHAPES])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_gradcheck_x_gamma_beta(backend, shape, batch_stats, act):
    mod = BACKENDS[backend]
    x, gamma, beta, rm, rv = make(shape, np.float64, seed=7)
    a = ACTS[act]
    r = np.random.default_rng(8).standard_normal(shape)

    def fwd():
        if batch_stats:
            return train(mod, x, gamma, beta, rm, rv, a)[0]
        return evaluate(mod, x, gamma, beta, rm, rv, a)[0]

    y, mean, invstd = (train(mod, x, gamma, beta, rm, rv, a)[:3] if batch_stats
                       else evaluate(mod, x, gamma, beta, rm, rv, a))
    z = (train(mod, x, gamma, beta, rm, rv)[0] if batch_stats else evaluate(mod, x, gamma, beta, rm, rv)[0])
    assert np.min(np.abs(z)) > 1e-4, "pre-activation too close to the ReLU kink for finite differences"
    dx, dgamma, dbeta = backward(mod, r, x, y, mean, invstd, gamma, a, batch_stats, seed_grads=False)
    loss = weighted_sum(fwd, r)
    assert_grad_close(dx, numerical_grad(loss, x), what="dx")
    assert_grad_close(dgamma, numerical_grad(loss, gamma), what="dgamma")
    assert_grad_close(dbeta, numerical_grad(loss, beta), what="dbeta")
