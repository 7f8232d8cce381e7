"""kernels.cuda.pool compiles to PTX for the argument types of real launches (float32 and float64 data, int32
argmax indices): catches kernel code that only the simulator accepts."""

import numba
import numpy as np
import pytest
from cuda_ptx import CC, dev, ptx_launches  # noqa: F401
from numba import cuda

from kernels.cuda import pool

KERNELS = {"_maxpool_forward_kernel", "_maxpool_backward_kernel", "_avgpool_forward_kernel",
           "_avgpool_backward_kernel"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_kernels_compile(ptx_launches, dtype):  # noqa: F811
    x = dev(np.zeros((2, 3, 7, 5), dtype))
    y = dev(np.zeros((2, 3, 4, 3), dtype))
    idx = dev(np.zeros((2, 3, 4, 3), np.int32))
    geo = (3, 3, 2, 2, 1, 1)
    pool.maxpool2d_forward(y, idx, x, *geo)
    pool.maxpool2d_backward(x, y, idx, *geo)
    pool.avgpool2d_forward(y, x, *geo, True)
    pool.avgpool2d_backward(x, y, *geo, False)
    assert {name for name, _ in ptx_launches} == KERNELS
    assert all(sig[0].dtype == numba.from_dtype(dtype) for _, sig in ptx_launches)
    if dtype == np.float32:  # float32 kernels do no double-precision math
        for name, sig in ptx_launches:
            ptx, _ = cuda.compile_ptx(getattr(pool, name).py_func, sig, cc=CC)
            assert ".f64" not in ptx, name
