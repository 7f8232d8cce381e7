"""kernels.cuda.im2col and kernels.cuda.conv compile to PTX for the argument types of real launches
(float32 and float64): catches kernel code that only the simulator accepts."""

import importlib

import numba
import numba.cuda.dispatcher
import numpy as np
import pytest
from cuda_ptx import CC, dev, ptx_launches  # noqa: F401
from numba import cuda

from kernels.codes import ACT_TANH

# import_module: the package namespace may re-export a function named im2col that shadows the module
conv, im2col, matmul = (importlib.import_module(f"kernels.cuda.{m}") for m in ("conv", "im2col", "matmul"))
KERNELS = {"_im2col_kernel": im2col, "_col2im_kernel": im2col, "_gemm_kernel": matmul,
           "_splitk_reduce_kernel": matmul, "_act_grad_rows_kernel": conv}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_kernels_compile(ptx_launches, dtype):  # noqa: F811
    def z(*shape):
        return dev(np.zeros(shape, dtype))

    n, c, h, w, o, kh, kw, sh, sw, ph, pw = 4, 3, 9, 8, 4, 3, 3, 2, 2, 1, 1  # dw: K = 80, split-K
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    col_s, y_s, xp_s, dw_s = conv.conv2d_workspace_shapes((n, c, h, w), (o, c, kh, kw), sh, sw, ph, pw, 1)
    x, wt, b, y = z(n, c, h, w), z(o, c, kh, kw), z(o), z(n, o, oh, ow)
    col = z(*col_s)
    geo = (sh, sw, ph, pw)
    conv.conv2d_forward(y, col, z(*y_s), z(*xp_s), x, wt, b, *geo, ACT_TANH, 0.0, 1)
    conv.conv2d_backward(z(n, c, h, w), z(o, c, kh, kw), z(o), z(*col_s), z(*y_s), z(*dw_s), z(*xp_s),
                         z(n, o, oh, ow), col, x, wt, y, *geo, ACT_TANH, 0.0, True, 1)
    im2col.im2col(z(c * kh * kw, n * oh * ow), x, kh, kw, *geo)
    im2col.col2im(x, z(c * kh * kw, n * oh * ow), kh, kw, *geo)
    assert {name for name, _ in ptx_launches} == set(KERNELS)
    assert all(sig[0].dtype == numba.from_dtype(dtype) for _, sig in ptx_launches)
    if dtype == np.float32:  # float32 kernels do no double-precision math
        for name, sig in ptx_launches:
            ptx, _ = cuda.compile_ptx(getattr(KERNELS[name], name).py_func, sig, cc=CC)
            assert ".f64" not in ptx, name
