"""kernels.cuda.activation (simulator) == kernels.reference.activation: every forward and backward, float32 and
float64, lengths not divisible by the block size, edge values (0, -0, +-1000, NaN), and softmax / log_softmax
rows of every group width (one thread per short row, partial groups, a whole block looping over a long row)."""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cuda import activation as cuda_act
from kernels.reference import activation as ref_act

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}
SIZES = [1, 300]  # one element; more than one block, not a multiple of THREADS
EDGES = [0.0, -0.0, 1000.0, -1000.0, np.nan, 1e-4, -3.5]

# name -> (scalar arguments, backward takes x (True) or y (False))
ELEMENTWISE = {
    "relu": ((), False), "leaky_relu": ((0.1,), True), "sigmoid": ((), False), "tanh": ((), False),
    "elu": ((0.7,), True), "softplus": ((1.5, 20.0), True), "gelu": ((0,), True), "gelu_tanh": ((1,), True),
    "silu": ((), True), "step": ((), None),
}


def data(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 3).astype(dtype)
    x[:len(EDGES)] = EDGES[:n]
    return x, rng.standard_normal(n).astype(dtype)


def close(a, b, dtype):
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_forward_backward(name, dtype, n):
    scalars, from_x = ELEMENTWISE[name]
    fn = name.replace("_tanh", "")
    x, dy = data(n, dtype)
    y_ref = np.zeros_like(x)
    getattr(ref_act, f"{fn}_forward")(y_ref, x, *scalars)
    y = empty_like(x)
    getattr(cuda_act, f"{fn}_forward")(y, dev(x), *scalars)
    close(host(y), y_ref, dtype)

    dx_ref, dx = np.zeros_like(x), empty_like(x)
    if from_x is None:  # step: the straight-through flag
        for st in (0, 1):
            ref_act.step_backward(dx_ref, dy, st)
            cuda_act.step_backward(dx, dev(dy), st)
            close(host(dx), dx_ref, dtype)
        return
    saved = x if from_x else y_ref
    getattr(ref_act, f"{fn}_backward")(dx_ref, dy, saved, *scalars)
    getattr(cuda_act, f"{fn}_backward")(dx, dev(dy), dev(saved), *scalars)
    close(host(dx), dx_ref, dtype)


ROWS = [(1, 1), (3, 5), (17, 13), (1, 300)]  # g = 1, 1, 16 over 2 blocks (the 2nd partial), 256 looping


@pytest.mark.parametrize("shape", ROWS, ids=["x".join(map(str, s)) for s in ROWS])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_rows(log, dtype, shape):
    name = "log_softmax" if log else "softmax"
    rng = np.random.default_rng(shape[0] * shape[1])
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x[0, 0] = 1000.0  # stable: no overflow
    dy = rng.standard_normal(shape).astype(dtype)
    y_ref = np.zeros_like(x)
    getattr(ref_act, f"{name}_forward")(y_ref, x)
    y = empty_like(x)
    getattr(cuda_act, f"{name}_forward")(y, dev(x))
    close(host(y), y_ref, dtype)

    dx_ref, dx = np.zeros_like(x), empty_like(x)
    getattr(ref_act, f"{name}_backward")(dx_ref, dy, y_ref)
    getattr(cuda_act, f"{name}_backward")(dx, dev(dy), dev(y_ref))
    close(host(dx), dx_ref, dtype)


def test_softmax_nan_row_stays_nan():
    short = np.array([[1.0, np.nan, 2.0], [0.0, 1.0, 2.0]] * 2, np.float32)  # rows of 3: one thread per row
    long = np.concatenate([short, np.zeros((4, 17), np.float32)], axis=1)  # rows of 20: groups of 32
    for x in (short, long):
        for name in ("softmax_forward", "log_softmax_forward"):
            y_ref = np.zeros_like(x)
            getattr(ref_act, name)(y_ref, x)
            y = empty_like(x)
            getattr(cuda_act, name)(y, dev(x))
            np.testing.assert_allclose(host(y), y_ref, rtol=1e-5, atol=1e-6)
            assert np.isnan(host(y)[0]).all() and not np.isnan(host(y)[1]).any()


def test_host_arrays_are_rejected():
    x = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match="'x'"):
        cuda_act.relu_forward(empty_like(x), x)
    with pytest.raises(TypeError, match="'dy'"):
        cuda_act.softmax_backward(empty_like(x.reshape(2, 2)), x.reshape(2, 2), dev(x.reshape(2, 2)))
