"""kernels.cuda.optim, kernels.cuda.reduce and kernels.cuda.elementwise compile to PTX for the argument types
of real launches (float32 and float64 buffers, int64 segment bounds, float64 segment columns and sums):
catches kernel code that only the simulator accepts. Every launcher runs once per dtype: sgd_update,
momentum_update, adagrad_update, rmsprop_update, rmsprop_nesterov_update, adam_update, adamax_update,
nadam_update; sumsq, sum_abs_pow, absmax, scale, clip_value; fill, add, copy."""

import re

import numba
import numba.cuda.dispatcher
import numpy as np
import pytest
from cuda_ptx import CC, dev, ptx_launches  # noqa: F401
from numba import cuda

from kernels.cuda import elementwise, optim, reduce

OPTIM_KERNELS = {"_sgd_kernel", "_momentum_kernel", "_adagrad_kernel", "_rmsprop_kernel", "_adam_kernel",
                 "_adamax_kernel", "_nadam_kernel"}
REDUCE_KERNELS = {"_partial_kernel", "_finish_kernel", "_scale_kernel", "_clip_kernel"}
ELEMENTWISE_KERNELS = {"_fill_kernel", "_add_kernel", "_copy_kernel"}
F64_MATH = re.compile(r"^\s*(add|sub|mul|fma|div|sqrt|rsqrt|rcp|abs|max|min|neg)\.\S*f64", re.M)


def launch_all(dtype):
    n = 10
    z = lambda: dev(np.zeros(n, dtype))  # noqa: E731
    tab = (dev(np.array([0, 6], np.int64)), dev(np.array([4, 9], np.int64)),
           *(dev(np.full(2, 0.01)) for _ in range(3)))
    optim.sgd_update(z(), z(), z(), *tab, 0.9, 0.1, True, False, False)
    optim.momentum_update(z(), z(), z(), *tab, 0.9, True, True)
    optim.adagrad_update(z(), z(), z(), *tab, 1e-10, False)
    optim.rmsprop_update(z(), z(), z(), z(), z(), *tab, 0.99, 1e-8, 0.9, True, False, False)
    optim.rmsprop_nesterov_update(z(), z(), z(), z(), z(), *tab, 0.99, 1e-8, 0.9, False, True, True)
    optim.adam_update(z(), z(), z(), z(), z(), *tab, 0.9, 0.999, 1e-8, 0.1, 0.001, True, True, False)
    optim.adamax_update(z(), z(), z(), z(), *tab, 0.9, 0.999, 1e-8, 0.1, False)
    optim.nadam_update(z(), z(), z(), z(), *tab, 0.9, 0.999, 1e-8, 0.001, 0.1, 0.8, True, False)
    out = dev(np.zeros(1))
    reduce.sumsq(out, z(), *tab[:2])
    reduce.sum_abs_pow(out, z(), *tab[:2], 1.5)
    reduce.absmax(out, z(), *tab[:2])
    reduce.scale(z(), *tab[:2], 0.5)
    reduce.clip_value(z(), *tab[:2], 1.0)
    elementwise.fill(z(), 0.0)
    elementwise.add(z(), z(), z())
    elementwise.copy(z(), z())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_compile(ptx_launches, dtype):  # noqa: F811
    launch_all(dtype)
    names = [name for name, _ in ptx_launches]
    assert set(names) == OPTIM_KERNELS | REDUCE_KERNELS | ELEMENTWISE_KERNELS
    assert len(names) == len(set(names))  # every launcher of a kind compiles one specialization
    for name, sig in ptx_launches:
        if name != "_finish_kernel":  # out, partial: float64
            assert numba.from_dtype(dtype) in {getattr(t, "dtype", None) for t in sig}, name
    if dtype == np.float32:  # float32 buffers run float32 math (the reductions accumulate in float64)
        for name, sig in ptx_launches:
            if name not in ("_partial_kernel", "_finish_kernel"):
                module = optim if name in OPTIM_KERNELS else reduce if name in REDUCE_KERNELS else elementwise
                ptx, _ = cuda.compile_ptx(getattr(module, name).py_func, sig, cc=CC)
                assert not F64_MATH.search(ptx), f"{name}: {F64_MATH.search(ptx).group(0)}"
