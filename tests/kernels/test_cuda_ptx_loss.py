"""kernels.cuda.loss compiles to PTX for the argument types of real launches (float32 and float64 data with
class weights, pos_weight and dloss of the same dtype, int64 labels, the int64 accuracy counter):
catches kernel code that only the simulator accepts. Float32 kernels must do no double-precision math."""


import numpy as np
import pytest
from cuda_ptx import CC, dev, ptx_launches  # noqa: F401
from numba import cuda

from kernels.cuda import loss

KERNELS = {name for name in vars(loss) if name.startswith("_") and name.endswith("_kernel")}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_kernels_compile(ptx_launches, dtype):  # noqa: F811
    n = 6
    vec, flat = dev(np.zeros(n, dtype)), dev(np.zeros(30, dtype))
    labels = dev(np.zeros(n, np.int64))
    w = dev(np.ones(40, dtype))
    d32 = dev(np.ones(n, dtype))
    for k in (3, 40):  # one thread per row; groups of 64
        z, p, g = (dev(np.zeros((n, k), dtype)) for _ in range(3))
        wk = w[:k]
        loss.softmax_cross_entropy_forward(vec, p, z, labels)
        loss.softmax_cross_entropy_backward(g, p, labels, 1 / n)
        loss.cross_entropy_forward(vec, p, z, labels, wk, -100, 0.1)
        loss.cross_entropy_backward(g, p, labels, wk, d32, -100, 0.1)
        loss.distillation_forward(vec, p, g, z, z, p, labels, 2.0, 0.5)
        loss.distillation_backward(g, p, z, z, labels, d32, 2.0, 0.5)
        loss.accuracy_count(dev(np.zeros(1, np.int64)), z, labels)
    loss.nll_forward(vec, z, labels, wk, -100)
    loss.nll_backward(g, labels, wk, d32, -100)
    for name in ("mse", "l1", "bce"):
        getattr(loss, f"{name}_forward")(flat, flat, flat)
        getattr(loss, f"{name}_backward")(flat, flat, flat, flat)
    loss.kl_div_forward(flat, flat, flat, True)
    loss.kl_div_backward(flat, flat, dev(np.ones(1, dtype)), False)
    m = flat.reshape(10, 3)
    loss.bce_with_logits_forward(m, m, m, w[:3])
    loss.bce_with_logits_backward(m, m, m, w[:3], flat)
    assert {name for name, _ in ptx_launches} == KERNELS
    if dtype == np.float32:
        for name, sig in ptx_launches:
            ptx, _ = cuda.compile_ptx(getattr(loss, name).py_func, sig, cc=CC)
            assert ".f64" not in ptx, f"{name}{sig} does double-precision math"
