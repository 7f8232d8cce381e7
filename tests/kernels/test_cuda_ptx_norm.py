"""kernels.cuda.batchnorm and kernels.cuda.norm compile to PTX for the argument types of real launches
(float32 and float64; every launch path: running-stat updates, fused ReLU, batch / running statistics);
float32 kernels compile no double-precision arithmetic."""

import numpy as np
import pytest
from cuda_ptx import CC, dev, ptx_launches  # noqa: F401
from numba import cuda

from kernels.codes import ACT_NONE, ACT_RELU
from kernels.cuda import batchnorm, norm

DTYPES = [np.float32, np.float64]


def check(compiled, module, kernels, dtype):
    assert {name for name, _ in compiled} == kernels
    if dtype == np.float32:
        for name, sig in compiled:
            ptx, _ = cuda.compile_ptx(getattr(module, name).py_func, sig, cc=CC)
            assert ".f64" not in ptx, name


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_kernels_compile(ptx_launches, dtype):  # noqa: F811
    x = dev(np.zeros((2, 3, 5), dtype))
    v = [dev(np.zeros(3, dtype)) for _ in range(6)]
    for act in (ACT_NONE, ACT_RELU):
        batchnorm.batchnorm_forward_train(x, *v[:4], x, *v[4:], 1e-5, 0.1, True, act)
        batchnorm.batchnorm_forward_eval(x, *v[:2], x, *v[2:], 1e-5, act)
        batchnorm.batchnorm_backward(x, *v[:2], x, x, x, *v[2:5], act, True)
    check(ptx_launches, batchnorm, {"_bn_train_kernel", "_bn_eval_kernel", "_bn_backward_kernel"}, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_kernels_compile(ptx_launches, dtype):  # noqa: F811
    x2 = dev(np.zeros((4, 6), dtype))
    x3 = dev(np.zeros((2, 3, 5), dtype))
    rows = [dev(np.zeros(4, dtype)) for _ in range(2)]
    cols = [dev(np.zeros(6, dtype)) for _ in range(4)]
    norm.layernorm_forward(x2, *rows, x2, *cols[:2], 1e-5, 1)
    norm.layernorm_backward(x2, *cols[:2], dev(np.zeros((1, 2, 6), dtype)), x2, x2, *rows, cols[2], 1)
    planes = [dev(np.zeros((2, 3), dtype)) for _ in range(2)]
    chans = [dev(np.zeros(3, dtype)) for _ in range(4)]
    norm.instancenorm_forward(x3, *planes, *chans[:2], x3, *chans[2:], 1e-5, 0.1, True)
    norm.instancenorm_backward(x3, *chans[:2], dev(np.zeros((2, 3, 2), dtype)), x3, x3, *planes, chans[2])
    norm.lrn_forward(x3, x3, x3, 5, 1e-4, 0.75, 2.0)
    norm.lrn_backward(x3, x3, x3, x3, x3, x3, 5, 1e-4, 0.75, 2.0)
    kernels = {"_layernorm_forward_kernel", "_layernorm_dx_kernel", "_layernorm_dparams_partial_kernel",
               "_add_partials_kernel", "_instancenorm_forward_kernel", "_instancenorm_running_kernel",
               "_instancenorm_backward_kernel", "_instancenorm_dparams_kernel", "_lrn_forward_kernel",
               "_lrn_backward_kernel"}
    check(ptx_launches, norm, kernels, dtype)
