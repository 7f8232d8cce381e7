"""maxpool2d / avgpool2d forward and backward: reference == cpu, PyTorch (values, indices, autograd),
float64 gradchecks of both backends (maxpool on distinct values so the argmax is stable)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum

import kernels
from kernels.reference.im2col import conv_out_size

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]

# (N, C, H, W, KH, KW, SH, SW, PH, PW); padding <= kernel/2 as PyTorch requires
CASES = [
    (1, 1, 4, 4, 2, 2, 2, 2, 0, 0),  # the classic 2x2/2, batch 1
    (2, 3, 7, 5, 3, 3, 2, 2, 1, 1),  # 3x3/2 padded, odd sizes
    (2, 2, 6, 9, 3, 2, 1, 2, 1, 0),  # non-square kernel, overlapping rows
    (1, 2, 9, 7, 5, 5, 2, 3, 2, 2),  # 5x5, stride 2x3, padding 2
    (3, 1, 5, 6, 1, 1, 1, 1, 0, 0),  # 1x1 kernel (identity)
    (2, 2, 8, 8, 2, 3, 3, 1, 1, 1),  # (kh,kw) != (sh,sw), overlapping columns
    (2, 1, 5, 4, 3, 3, 3, 3, 1, 1),  # stride == kernel with padding, ragged edge
]
CASE_IDS = ["x".join(map(str, c)) for c in CASES]


def out_shape(case):
    n, c, h, w, kh, kw, sh, sw, ph, pw = case
    return n, c, conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)


def maxpool(mod, x, case):
    *_, kh, kw, sh, sw, ph, pw = case
    y = np.full(out_shape(case), np.nan, dtype=x.dtype)
    idx = np.full(out_shape(case), -1, dtype=np.int32)
    mod.maxpool2d_forward(y, idx, x, kh, kw, sh, sw, ph, pw)
    return y, idx


def maxpool_back(mod, dy, idx, case):
    *_, kh, kw, sh, sw, ph, pw = case
    dx = np.full(case[:4], np.nan, dtype=dy.dtype)
    mod.maxpool2d_backward(dx, dy, idx, kh, kw, sh, sw, ph, pw)
    return dx


def avgpool(mod, x, case, cip):
    *_, kh, kw, sh, sw, ph, pw = case
    y = np.full(out_shape(case), np.nan, dtype=x.dtype)
    mod.avgpool2d_forward(y, x, kh, kw, sh, sw, ph, pw, cip)
    return y


def avgpool_back(mod, dy, case, cip):
    *_, kh, kw, sh, sw, ph, pw = case
    dx = np.full(case[:4], np.nan, dtype=dy.dtype)
    mod.avgpool2d_backward(dx, dy, kh, kw, sh, sw, ph, pw, cip)
    return dx


def distinct_input(case, dtype, seed=0):
    """Values pairwise >= 0.01 apart (and shuffled), so argmax is unique and stable under 1e-6 nudges."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(case[:4]))
    v = rng.permutation(size) * 0.01 - size * 0.005 + rng.uniform(0, 1e-3, size)
    return v.reshape(case[:4]).astype(dtype)


def torch_kwargs(case):
    *_, kh, kw, sh, sw, ph, pw = case
    return dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw))


# ------------------------------------------------------------------------------------ maxpool


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_maxpool_forward(case, dtype):
    x = np.random.default_rng(1).standard_normal(case[:4]).astype(dtype)
    y_ref, i_ref = maxpool(REF, x, case)
    y_cpu, i_cpu = maxpool(CPU, x, case)
    np.testing.assert_array_equal(y_cpu, y_ref)
    np.testing.assert_array_equal(i_cpu, i_ref)
    ty, ti = F.max_pool2d(torch.from_numpy(x), return_indices=True, **torch_kwargs(case))
    np.testing.assert_array_equal(y_ref, ty.numpy())
    np.testing.assert_array_equal(i_ref, ti.numpy())
    # the index really points at the value (flat h*W + w within the plane)
    planes = x.reshape(case[0], case[1], -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, i_cpu.reshape(*planes.shape[:2], -1), 2),
                                  y_cpu.reshape(*planes.shape[:2], -1))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_maxpool_ties_pick_first_maximum(case):
    # small integers: many ties inside each window; the first maximum in row-major order wins (as PyTorch)
    x = np.random.default_rng(2).integers(0, 3, case[:4]).astype(np.float64)
    _, i_ref = maxpool(REF, x, case)
    _, i_cpu = maxpool(CPU, x, case)
    _, ti = F.max_pool2d(torch.from_numpy(x), return_indices=True, **torch_kwargs(case))
    np.testing.assert_array_equal(i_ref, ti.numpy())
    np.testing.assert_array_equal(i_cpu, ti.numpy())


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_maxpool_propagates_nan(backend):
    case = (1, 1, 4, 4, 2, 2, 2, 2, 0, 0)
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y, idx = maxpool(BACKENDS[backend], x, case)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    assert np.isfinite(y.reshape(-1)[1:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_maxpool_backward(case, dtype):
    x = np.random.default_rng(3).standard_normal(case[:4]).astype(dtype)
    _, idx = maxpool(REF, x, case)
    dy = np.random.default_rng(4).standard_normal(idx.shape).astype(dtype)
    dx_ref = maxpool_back(REF, dy, idx, case)
    dx_cpu = maxpool_back(CPU, dy, idx, case)
    assert_close(dx_cpu, dx_ref, dtype)
    tx = torch.tensor(x, requires_grad=True)
    F.max_pool2d(tx, **torch_kwargs(case)).backward(torch.from_numpy(dy))
    assert_close(dx_ref, tx.grad.numpy(), dtype)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_maxpool_gradcheck(backend, case):
    mod = BACKENDS[backend]
    x = distinct_input(case, np.float64, seed=5)
    y, idx = maxpool(mod, x, case)
    r = np.random.default_rng(6).standard_normal(y.shape)
    numeric = numerical_grad(weighted_sum(lambda: maxpool(mod, x, case)[0], r), x)
    assert_grad_close(maxpool_back(mod, r, idx, case), numeric)


# ------------------------------------------------------------------------------------ avgpool


@pytest.mark.parametrize("cip", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_avgpool_forward(case, dtype, cip):
    x = np.random.default_rng(7).standard_normal(case[:4]).astype(dtype)
    y_ref = avgpool(REF, x, case, cip)
    y_cpu = avgpool(CPU, x, case, cip)
    assert_close(y_cpu, y_ref, dtype)
    ty = F.avg_pool2d(torch.from_numpy(x), count_include_pad=cip, **torch_kwargs(case))
    assert_close(y_ref, ty.numpy(), dtype)


@pytest.mark.parametrize("cip", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_avgpool_backward(case, dtype, cip):
    dy = np.random.default_rng(8).standard_normal(out_shape(case)).astype(dtype)
    dx_ref = avgpool_back(REF, dy, case, cip)
    dx_cpu = avgpool_back(CPU, dy, case, cip)
    assert_close(dx_cpu, dx_ref, dtype)
    tx = torch.zeros(case[:4], dtype=torch.from_numpy(dy).dtype, requires_grad=True)
    F.avg_pool2d(tx, count_include_pad=cip, **torch_kwargs(case)).backward(torch.from_numpy(dy))
    assert_close(dx_ref, tx.grad.numpy(), dtype)


@pytest.mark.parametrize("cip", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_avgpool_gradcheck(backend, case, cip):
    mod = BACKENDS[backend]
    x = np.random.default_rng(9).standard_normal(case[:4])
    y = avgpool(mod, x, case, cip)
    r = np.random.default_rng(10).standard_normal(y.shape)
    numeric = numerical_grad(weighted_sum(lambda: avgpool(mod, x, case, cip), r), x)
    assert_grad_close(avgpool_back(mod, r, case, cip), numeric)
