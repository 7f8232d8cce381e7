"""kernels.cuda.activation, .dropout and .augment compile to PTX for the argument types of real launches
(float32 and float64 data, uint8 masks, int64 shifts/flips/permutations, float64 angles): catches kernel code
that only the simulator accepts. Float32 kernels must do no double-precision math (except rotate, whose
angle is float64 by contract)."""


import numba
import numba.cuda.dispatcher
import numpy as np
import pytest
from cuda_ptx import CC, dev, ptx_launches  # noqa: F401
from numba import cuda

from kernels.cuda import activation, augment, dropout


def kernel_names(module) -> set[str]:
    return {name for name in vars(module) if name.startswith("_") and name.endswith("_kernel")}


def assert_no_f64(module, launches, allowed=()):
    for name, sig in launches:
        if name not in allowed:
            ptx, _ = cuda.compile_ptx(getattr(module, name).py_func, sig, cc=CC)
            assert ".f64" not in ptx, f"{name}{sig} does double-precision math"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_kernels_compile(ptx_launches, dtype):  # noqa: F811
    x, y, d = (dev(np.zeros(10, dtype)) for _ in range(3))
    scalars = {"leaky_relu": (0.1,), "elu": (1.0,), "softplus": (1.0, 20.0), "gelu": (1,)}
    for name in activation.__all__:
        if "softmax" in name:
            continue
        if name.startswith("step"):
            args = (y, x) if name == "step_forward" else (d, y, 1)
        else:
            args = ((y, x) if name.endswith("forward") else (d, y, x)) + scalars.get(name.rsplit("_", 1)[0], ())
        getattr(activation, name)(*args)
    for k in (3, 40, 1000):  # one thread per row, groups of 64, a whole block per row
        a, b, c = (dev(np.zeros((5, k), dtype)) for _ in range(3))
        activation.softmax_forward(a, b)
        activation.softmax_backward(a, b, c)
        activation.log_softmax_forward(a, b)
        activation.log_softmax_backward(a, b, c)
    assert {name for name, _ in ptx_launches} == kernel_names(activation)
    assert all(sig[0].dtype == numba.from_dtype(dtype) for _, sig in ptx_launches)
    if dtype == np.float32:
        assert_no_f64(activation, ptx_launches)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_kernels_compile(ptx_launches, dtype):  # noqa: F811
    x, y = dev(np.zeros(12, dtype)), dev(np.zeros(12, dtype))
    mask, rows = dev(np.ones(12, np.uint8)), dev(np.ones(3, np.uint8))
    dropout.dropout_forward(y, mask, x, 1.25)
    dropout.dropout_backward(x, y, mask, 1.25)
    dropout.dropout2d_forward(y.reshape(3, 4), rows, x.reshape(3, 4), 2.0)
    dropout.dropout2d_backward(x.reshape(3, 4), y.reshape(3, 4), rows, 2.0)
    dropout.dropout_mask(mask, 0.3, 2**64 - 1, 12345)
    assert {name for name, _ in ptx_launches} == kernel_names(dropout)
    if dtype == np.float32:
        assert_no_f64(dropout, ptx_launches, allowed={"_dropout_mask_kernel"})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_augment_kernels_compile(ptx_launches, dtype):  # noqa: F811
    x, out = dev(np.zeros((2, 3, 5, 4), dtype)), dev(np.zeros((2, 3, 5, 4), dtype))
    ints = dev(np.zeros(2, np.int64))
    augment.shift_forward(out, x, ints, ints)
    augment.hflip_forward(out, x, ints)
    augment.rotate_forward(out, x, dev(np.zeros(2, np.float64)))
    augment.noise_forward(out, x, x, 0.1)
    y = dev(np.zeros((2, 10), dtype))
    augment.mixup_forward(out, y, x, y, ints, 0.3)
    assert {name for name, _ in ptx_launches} == kernel_names(augment)
    if dtype == np.float32:
        assert_no_f64(augment, ptx_launches, allowed={"_rotate_kernel"})
