"""kernels.cuda.pool (simulator) == kernels.reference.pool: max/avg pooling forward and backward, float32 and
float64, batch 1, one channel, odd sizes, padding, overlapping windows (kernel 3 / stride 2) and NaN inputs."""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cuda import pool as cuda_pool
from kernels.reference import pool as ref_pool
from kernels.reference.im2col import conv_out_size

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}

# (N, C, H, W, KH, KW, SH, SW, PH, PW)
CASES = [
    (1, 1, 4, 4, 2, 2, 2, 2, 0, 0),  # classic 2x2/2, batch 1, one channel
    (2, 3, 7, 5, 3, 3, 2, 2, 1, 1),  # overlapping 3x3/2 windows, padded, odd sizes
    (1, 2, 6, 9, 3, 2, 1, 2, 1, 0),  # non-square kernel, stride 1 rows
    (1, 1, 9, 7, 5, 5, 2, 3, 2, 2),  # 5x5, stride 2x3, padding 2
    (2, 1, 5, 4, 3, 3, 3, 3, 1, 1),  # ragged edge
]
CASE_IDS = ["x".join(map(str, c)) for c in CASES]


def out_shape(case):
    n, c, h, w, kh, kw, sh, sw, ph, pw = case
    return n, c, conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)


def data(case, dtype, seed=0):
    """Distinct values (a unique argmax) and an upstream gradient."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(case[:4]))
    x = (rng.permutation(size) * 0.01 - size * 0.005).reshape(case[:4]).astype(dtype)
    dy = rng.standard_normal(out_shape(case)).astype(dtype)
    return x, dy


def close(a, b, dtype):
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_maxpool_forward_backward(case, dtype):
    geo = case[4:]
    x, dy = data(case, dtype)
    y_ref = np.zeros(out_shape(case), dtype)
    i_ref = np.zeros(out_shape(case), np.int32)
    ref_pool.maxpool2d_forward(y_ref, i_ref, x, *geo)
    y, idx = empty_like(y_ref), empty_like(i_ref)
    cuda_pool.maxpool2d_forward(y, idx, dev(x), *geo)
    np.testing.assert_array_equal(host(y), y_ref)
    np.testing.assert_array_equal(host(idx), i_ref)

    dx_ref = np.zeros(x.shape, dtype)
    ref_pool.maxpool2d_backward(dx_ref, dy, i_ref, *geo)
    dx = empty_like(x)
    cuda_pool.maxpool2d_backward(dx, dev(dy), dev(i_ref), *geo)
    close(host(dx), dx_ref, dtype)


def test_maxpool_nan_and_ties():
    # first maximum wins on ties; a NaN wins over numbers (first NaN), as the cpu kernel and np.argmax
    case = (1, 1, 4, 5, 3, 3, 2, 2, 1, 1)
    x = np.zeros(case[:4], np.float32)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 2, 3] = 1.0  # ties in window (1, 2): the first in row-major order wins
    x[0, 0, 3, 4] = 1.0
    y_ref = np.zeros(out_shape(case), np.float32)
    i_ref = np.zeros(out_shape(case), np.int32)
    ref_pool.maxpool2d_forward(y_ref, i_ref, x, *case[4:])
    y, idx = empty_like(y_ref), empty_like(i_ref)
    cuda_pool.maxpool2d_forward(y, idx, dev(x), *case[4:])
    np.testing.assert_array_equal(host(y), y_ref)
    np.testing.assert_array_equal(host(idx), i_ref)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_avgpool_forward_backward(case, dtype, count_include_pad):
    geo = (*case[4:], count_include_pad)
    x, dy = data(case, dtype, seed=1)
    y_ref = np.zeros(out_shape(case), dtype)
    ref_pool.avgpool2d_forward(y_ref, x, *geo)
    y = empty_like(y_ref)
    cuda_pool.avgpool2d_forward(y, dev(x), *geo)
    close(host(y), y_ref, dtype)

    dx_ref = np.zeros(x.shape, dtype)
    ref_pool.avgpool2d_backward(dx_ref, dy, *geo)
    dx = empty_like(x)
    cuda_pool.avgpool2d_backward(dx, dev(dy), *geo)
    close(host(dx), dx_ref, dtype)


def test_host_arrays_are_rejected():
    case = CASES[0]
    x, dy = data(case, np.float32)
    y = empty_like(dy)
    with pytest.raises(TypeError, match="'x'"):
        cuda_pool.maxpool2d_forward(y, empty_like(np.zeros(dy.shape, np.int32)), x, *case[4:])
    with pytest.raises(TypeError, match="'dy'"):
        cuda_pool.avgpool2d_backward(empty_like(x), dy, *case[4:], True)
