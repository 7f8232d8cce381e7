"""kernels.cuda.batchnorm (simulator) == kernels.reference.batchnorm: training forward (batch statistics,
running-stat update), evaluation forward and backward (batch / running statistics, accumulating dgamma and
dbeta), plain and fused ReLU, float32 and float64; shapes with batch 1, one channel, S = 1 (BatchNorm1d),
channels of more than THREADS values with S below, above and not a multiple of THREADS, and one value per
channel (N*S = 1) where the reference accepts it."""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.codes import ACT_NONE, ACT_RELU
from kernels.cuda import batchnorm as cuda_bn
from kernels.reference import batchnorm as ref_bn

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}
EPS = 1e-5

# (N, C, S): M = N*S values per channel; (3, 1, 100) and (1, 1, 300) span more than one block stride.
# The simulator runs a block's THREADS threads as Python threads (~0.3 s per block and kernel), so every
# shape runs in both dtypes with the two activations alternating, on few channels.
SHAPES = [(2, 2, 1), (1, 1, 5), (5, 1, 1), (3, 2, 7), (3, 1, 100), (1, 1, 300)]
ACTS = {"none": ACT_NONE, "relu": ACT_RELU}
CASES = [(shape, dtype, ("none", "relu")[(k + d) % 2]) for k, shape in enumerate(SHAPES)
         for d, dtype in enumerate(DTYPES)]
CASE_IDS = ["x".join(map(str, shape)) + f"-{np.dtype(dtype).name}-{act}" for shape, dtype, act in CASES]


def close(a, b, dtype, what):
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def make(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (rng.standard_normal(shape) * 1.5 + 0.7).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, dy, gamma, beta, rm, rv


def ref_train(x, gamma, beta, rm, rv, act, update, momentum=0.1):
    c = x.shape[1]
    y, mean, invstd, rm, rv = np.zeros_like(x), np.zeros(c, x.dtype), np.zeros(c, x.dtype), rm.copy(), rv.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_bn.batchnorm_forward_train(y, mean, invstd, rm, rv, x, gamma, beta, EPS, momentum, update, act)
    return y, mean, invstd, rm, rv


def cuda_train(x, gamma, beta, rm, rv, act, update, momentum=0.1):
    out = [empty_like(x), empty_like(gamma), empty_like(gamma), dev(rm), dev(rv)]
    cuda_bn.batchnorm_forward_train(*out, dev(x), dev(gamma), dev(beta), EPS, momentum, update, act)
    return [host(a) for a in out]


def check_backward(x, dy, y, mean, invstd, gamma, act, batch_stats, dtype):
    c = x.shape[1]
    ref = [np.zeros_like(x), np.full(c, 0.25, dtype), np.full(c, -0.5, dtype)]  # dgamma, dbeta accumulate
    ref_bn.batchnorm_backward(*ref, dy, x, y, mean, invstd, gamma, act, batch_stats)
    out = [empty_like(x), dev(np.full(c, 0.25, dtype)), dev(np.full(c, -0.5, dtype))]
    cuda_bn.batchnorm_backward(*out, dev(dy), dev(x), dev(y), dev(mean), dev(invstd), dev(gamma), act, batch_stats)
    for name, a, b in zip(("dx", "dgamma", "dbeta"), out, ref):
        close(host(a), b, dtype, name)


@pytest.mark.parametrize(("shape", "dtype", "act"), CASES, ids=CASE_IDS)
def test_train_forward_backward(shape, dtype, act):
    x, dy, gamma, beta, rm, rv = make(shape, dtype)
    ref = ref_train(x, gamma, beta, rm, rv, ACTS[act], True)
    got = cuda_train(x, gamma, beta, rm, rv, ACTS[act], True)
    for name, a, b in zip(("y", "mean", "invstd", "running_mean", "running_var"), got, ref):
        close(a, b, dtype, name)
    check_backward(x, dy, ref[0], ref[1], ref[2], gamma, ACTS[act], True, dtype)


EVAL_CASES = [((1, 2, 1), np.float32, "relu"), ((1, 1, 5), np.float64, "none"), ((3, 1, 100), np.float32, "none"),
              ((2, 2, 3), np.float64, "relu")]


@pytest.mark.parametrize(("shape", "dtype", "act"), EVAL_CASES,
                         ids=["x".join(map(str, c[0])) + f"-{np.dtype(c[1]).name}-{c[2]}" for c in EVAL_CASES])
def test_eval_forward_backward(shape, dtype, act):
    x, dy, gamma, beta, rm, rv = make(shape, dtype, seed=1)
    c = shape[1]
    ref = [np.zeros_like(x), np.zeros(c, dtype), np.zeros(c, dtype)]
    ref_bn.batchnorm_forward_eval(*ref, x, gamma, beta, rm, rv, EPS, ACTS[act])
    out = [empty_like(x), empty_like(gamma), empty_like(gamma)]
    cuda_bn.batchnorm_forward_eval(*out, dev(x), dev(gamma), dev(beta), dev(rm), dev(rv), EPS, ACTS[act])
    for name, a, b in zip(("y", "mean", "invstd"), out, ref):
        close(host(a), b, dtype, name)
    check_backward(x, dy, ref[0], ref[1], ref[2], gamma, ACTS[act], False, dtype)


def test_train_without_update_and_one_value_per_channel():
    # N*S = 1: var = 0, y = beta; no update leaves the running statistics; with the update running_var is
    # NaN (M / (M - 1) = 1 / 0) exactly as the reference
    x, _, gamma, beta, rm, rv = make((1, 2, 1), np.float64)
    for update in (False, True):
        ref = ref_train(x, gamma, beta, rm, rv, ACT_NONE, update)
        got = cuda_train(x, gamma, beta, rm, rv, ACT_NONE, update)
        for name, a, b in zip(("y", "mean", "invstd", "running_mean", "running_var"), got, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)
    np.testing.assert_array_equal(ref_train(x, gamma, beta, rm, rv, ACT_NONE, False)[3], rm)


def test_momentum_one_and_large_mean():
    # momentum 1: running stats = batch mean and unbiased variance; |mean| >> std stays accurate in float32
    rng = np.random.default_rng(3)
    x = (1000 + rng.standard_normal((2, 2, 150))).astype(np.float32)
    gamma, beta = np.ones(2, np.float32), np.zeros(2, np.float32)
    y, mean, _, rm, rv = cuda_train(x, gamma, beta, np.zeros(2, np.float32), np.ones(2, np.float32), ACT_NONE,
                                    True, momentum=1.0)
    x64 = x.astype(np.float64)
    expect = (x64 - x64.mean(axis=(0, 2), keepdims=True)) / np.sqrt(x64.var(axis=(0, 2), keepdims=True) + EPS)
    np.testing.assert_allclose(y, expect, atol=1e-3)
    np.testing.assert_allclose(rm, x64.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(rv, x64.transpose(1, 0, 2).reshape(2, -1).var(axis=1, ddof=1), rtol=1e-3)


def test_host_arrays_are_rejected():
    x, dy, gamma, beta, rm, rv = make((2, 3, 4), np.float32)
    with pytest.raises(TypeError, match="'running_var'"):
        cuda_bn.batchnorm_forward_train(empty_like(x), empty_like(gamma), empty_like(gamma), dev(rm), rv, dev(x),
                                        dev(gamma), dev(beta), EPS, 0.1, True, ACT_NONE)
    with pytest.raises(TypeError, match="'dy'"):
        cuda_bn.batchnorm_backward(empty_like(x), dev(gamma), dev(beta), dy, dev(x), dev(x), dev(rm), dev(rv),
                                   dev(gamma), ACT_NONE, True)
