"""kernels.cuda.matmul compiles to PTX for the argument types of real launches (float32 and float64):
catches kernel code that only the simulator accepts. Shapes take the split-K path too."""


import numba
import numba.cuda.dispatcher
import numpy as np
import pytest
from cuda_ptx import CC, dev, ptx_launches  # noqa: F401
from numba import cuda

from kernels.codes import ACT_SIGMOID
from kernels.cuda import matmul

KERNELS = {"_gemm_kernel", "_splitk_reduce_kernel", "_act_grad_colsum_kernel"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_kernels_compile(ptx_launches, dtype):  # noqa: F811
    def z(*shape):
        return dev(np.zeros(shape, dtype))

    matmul.gemm(z(2, 3), z(2, 100), z(100, 3), 1.0, 0.5)  # one output tile, K = 7 tiles: split-K
    matmul.batched_gemm(z(3, 5, 6), z(3, 5, 17), z(3, 17, 6))
    n, k, m = 5, 7, 3
    matmul.linear_forward(z(n, m), z(n, k), z(m, k), z(m), ACT_SIGMOID, 0.0, 1)
    matmul.linear_backward(z(n, k), z(m, k), z(m), z(n, m), z(m * k), z(n, m), z(n, k), z(m, k), z(n, m),
                           ACT_SIGMOID, 0.0, True, 1)
    assert {name for name, _ in ptx_launches} == KERNELS
    assert all(sig[0].dtype == numba.from_dtype(dtype) for _, sig in ptx_launches)
    if dtype == np.float32:  # float32 kernels do no double-precision math
        for name, sig in ptx_launches:
            ptx, _ = cuda.compile_ptx(getattr(matmul, name).py_func, sig, cc=CC)
            assert ".f64" not in ptx, name
