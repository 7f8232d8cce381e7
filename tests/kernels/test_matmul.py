"""linear_forward / linear_backward: reference == cpu, dw/db accumulation, need_dx, gradcheck, PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum

import kernels
from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]
# (code, alpha): every fused activation; fused LeakyReLU needs alpha >= 0
ACTS = [(ACT_NONE, 0.0), (ACT_RELU, 0.0), (ACT_LEAKY_RELU, 0.1), (ACT_SIGMOID, 0.0), (ACT_TANH, 0.0)]
ACT_IDS = ["none", "relu", "leaky_relu", "sigmoid", "tanh"]
# (N, K, M): batch 1, degenerate 1x1, odd and non-square sizes
SHAPES = [(1, 1, 1), (1, 5, 3), (4, 7, 3), (5, 3, 8), (16, 33, 10)]


def make_inputs(n, k, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)).astype(dtype)
    w = (rng.standard_normal((m, k)) / np.sqrt(k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return x, w, b


def forward(mod, x, w, b, act, alpha, nchunks=2):
    y = np.full((x.shape[0], w.shape[0]), np.nan, dtype=x.dtype)
    mod.linear_forward(y, x, w, b, act, alpha, max(1, min(len(x), nchunks)))
    return y


def backward(mod, dy, x, w, y, act, alpha, need_dx, dw0=None, db0=None, nchunks=2):
    """Run linear_backward; dx starts as a sentinel, dw/db start at dw0/db0 (zeros by default)."""
    dt = x.dtype
    dx = np.full(x.shape, 7.0, dtype=dt)
    dw = np.zeros(w.shape, dt) if dw0 is None else dw0.copy()
    db = np.zeros(w.shape[0], dt) if db0 is None else db0.copy()
    ws_g = np.full(y.shape, np.nan, dtype=dt)
    nchunks = max(1, min(len(x), nchunks))
    ws_dw = np.full(mod.linear_workspace_shape(len(x), w.shape[1], w.shape[0], nchunks), np.nan, dtype=dt)
    mod.linear_backward(dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks)
    return dx, dw, db


@pytest.mark.parametrize("act,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_cpu_matches_reference(shape, dtype, act, alpha):
    x, w, b = make_inputs(*shape, dtype)
    y_ref = forward(REF, x, w, b, act, alpha)
    y_cpu = forward(CPU, x, w, b, act, alpha)
    assert y_cpu.dtype == dtype
    assert_close(y_cpu, y_ref, dtype)


@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("act,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_cpu_matches_reference(shape, dtype, act, alpha, need_dx):
    x, w, b = make_inputs(*shape, dtype)
    rng = np.random.default_rng(1)
    y = forward(REF, x, w, b, act, alpha)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dw0 = rng.standard_normal(w.shape).astype(dtype)
    db0 = rng.standard_normal(b.shape).astype(dtype)
    out_ref = backward(REF, dy, x, w, y, act, alpha, need_dx, dw0, db0)
    out_cpu = backward(CPU, dy, x, w, y, act, alpha, need_dx, dw0, db0)
    for name, a, r in zip(("dx", "dw", "db"), out_cpu, out_ref):
        assert_close(a, r, dtype, what=name)
    for mod, (dx, dw, db) in (("reference", out_ref), ("cpu", out_cpu)):
        if not need_dx:
            assert np.all(dx == 7.0), f"{mod}: dx must be left untouched when need_dx is False"
        # += semantics: starting from dw0/db0 adds exactly the gradient computed from zeros
        _, dw_z, db_z = backward(BACKENDS[mod], dy, x, w, y, act, alpha, need_dx)
        assert not np.allclose(dw, dw_z)
        assert_close(dw, dw0 + dw_z, dtype, what=f"{mod} dw accumulates")
        assert_close(db, db0 + db_z, dtype, what=f"{mod} db accumulates")


@pytest.mark.parametrize("nchunks", [2, 3, 5])
def test_backward_with_more_chunks_than_output_features(nchunks):
    """dw/db are split over output features: chunks beyond M get none and must leave the rest intact."""
    x, w, b = make_inputs(9, 6, 2, np.float64)
    y = forward(REF, x, w, b, ACT_RELU, 0.0)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    for a, r in zip(backward(CPU, dy, x, w, y, ACT_RELU, 0.0, True, nchunks=nchunks),
                    backward(REF, dy, x, w, y, ACT_RELU, 0.0, True)):
        assert_close(a, r, np.float64)


def _torch_act(z, act, alpha):
    return {ACT_NONE: lambda t: t, ACT_RELU: F.relu, ACT_LEAKY_RELU: lambda t: F.leaky_relu(t, alpha),
            ACT_SIGMOID: torch.sigmoid, ACT_TANH: torch.tanh}[act](z)


@pytest.mark.parametrize("act,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_matches_torch(backend, act, alpha):
    mod = BACKENDS[backend]
    x, w, b = make_inputs(6, 9, 4, np.float64, seed=3)
    dy = np.random.default_rng(4).standard_normal((6, 4))
    y = forward(mod, x, w, b, act, alpha)
    dx, dw, db = backward(mod, dy, x, w, y, act, alpha, True)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = _torch_act(F.linear(tx, tw, tb), act, alpha)
    ty.backward(torch.tensor(dy))
    for name, ours, theirs in (("y", y, ty), ("dx", dx, tx.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)):
        assert_close(ours, theirs.detach().numpy(), np.float64, tol=1e-10, what=name)


def _away_from_kink(n, k, m, seed):
    """float64 inputs whose pre-activations stay >= 1e-2 away from 0 (ReLU kinks)."""
    for s in range(seed, seed + 1000):
        x, w, b = make_inputs(n, k, m, np.float64, seed=s)
        if np.abs(x @ w.T + b).min() > 1e-2:
            return x, w, b
    raise AssertionError("no kink-free sample found")


@pytest.mark.parametrize("act,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_gradcheck(backend, act, alpha):
    mod = BACKENDS[backend]
    x, w, b = _away_from_kink(3, 4, 5, seed=10)
    r = np.random.default_rng(99).standard_normal((3, 5))
    loss = weighted_sum(lambda: forward(mod, x, w, b, act, alpha), r)
    y = forward(mod, x, w, b, act, alpha)
    dx, dw, db = backward(mod, r, x, w, y, act, alpha, True)
    assert_grad_close(dx, numerical_grad(loss, x), what="dx")
    assert_grad_close(dw, numerical_grad(loss, w), what="dw")
    assert_grad_close(db, numerical_grad(loss, b), what="db")


@pytest.mark.parametrize("nchunks", [1, 2, 3, 7])
def test_rows_split_into_chunks_matches_reference(nchunks):
    """Each chunk of rows runs its own GEMMs and writes its own dw partial; every split (uneven, one row
    per chunk) must equal the reference, with dw/db accumulated once."""
    x, w, b = make_inputs(7, 5, 4, np.float64, seed=9)
    y_ref = forward(REF, x, w, b, ACTS[1][0], ACTS[1][1])
    y = forward(CPU, x, w, b, ACTS[1][0], ACTS[1][1], nchunks=nchunks)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(10).standard_normal(y.shape)
    dw0, db0 = np.ones_like(w), np.ones_like(b)
    ref = backward(REF, dy, x, w, y_ref, ACTS[1][0], ACTS[1][1], True, dw0, db0)
    got = backward(CPU, dy, x, w, y, ACTS[1][0], ACTS[1][1], True, dw0, db0, nchunks=nchunks)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


GEMM_SIZES = [1, 5, 17, 33]


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, -2.0)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(m, n, k) for m in GEMM_SIZES for n in GEMM_SIZES for k in GEMM_SIZES][::3])
def test_gemm_cpu_matches_reference(m, n, k, dtype, alpha, beta):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a, b, c0 = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    out = {}
    for name, mod in BACKENDS.items():
        c = c0.copy()
        mod.gemm(c, a, b, alpha, beta)
        out[name] = c
    assert_close(out["cpu"], out["reference"], dtype)
    assert_close(out["reference"], alpha * (a.astype(np.float64) @ b) + beta * c0, dtype)


def test_gemm_beta_zero_does_not_read_c():
    """beta == 0 (BLAS convention): NaN in c does not propagate."""
    a, b = np.ones((3, 4)), np.ones((4, 5))
    for name, mod in BACKENDS.items():
        c = np.full((3, 5), np.nan)
        mod.gemm(c, a, b, 2.0, 0.0)
        np.testing.assert_array_equal(c, np.full((3, 5), 8.0), err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 5, 17, 33), (4, 33, 1, 5)])
def test_batched_gemm_cpu_matches_reference(shape, dtype):
    nb, m, k, n = shape
    rng = np.random.default_rng(sum(shape))
    a, b = rng.standard_normal((nb, m, k)).astype(dtype), rng.standard_normal((nb, k, n)).astype(dtype)
    out = {}
    for name, mod in BACKENDS.items():
        c = np.full((nb, m, n), np.nan, dtype)
        mod.batched_gemm(c, a, b)
        out[name] = c
    assert_close(out["cpu"], out["reference"], dtype)
    assert_close(out["reference"], np.einsum("bmk,bkn->bmn", a.astype(np.float64), b), dtype)
