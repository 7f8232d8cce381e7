"""kernels.cuda.augment (simulator) == kernels.reference.augment: shift (in-range, out-of-range and zero
offsets), hflip, rotate (odd sizes, right and odd angles), noise and mixup, float32 and float64, batch 1,
one channel, sizes not divisible by the block size."""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cuda import augment as cuda_aug
from kernels.reference import augment as ref_aug

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}
SHAPES = [(1, 1, 3, 5), (3, 2, 7, 6)]  # 15 and 252 elements: one partial block each
IDS = ["x".join(map(str, s)) for s in SHAPES]


def batch(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def run(name, shape, dtype, *args, **kw):
    """(cuda result, reference result) of ``<name>_forward(out, x, *args)``."""
    x = batch(shape, dtype)
    expected = np.zeros_like(x)
    getattr(ref_aug, f"{name}_forward")(expected, x, *args)
    out = empty_like(x)
    getattr(cuda_aug, f"{name}_forward")(out, dev(x), *(dev(a) if isinstance(a, np.ndarray) else a for a in args))
    return host(out), expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_shift(shape, dtype):
    n = shape[0]
    dy, dx = np.array([0, 2, -6][:n], np.int64), np.array([-1, 5, 3][:n], np.int64)  # up to size - 1
    got, expected = run("shift", shape, dtype, dy, dx)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_hflip(shape, dtype):
    got, expected = run("hflip", shape, dtype, np.array([1, 0, 1][:shape[0]], np.int64))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_rotate(shape, dtype):
    angles = np.radians([27.0, 90.0, -12.5][:shape[0]])
    got, expected = run("rotate", shape, dtype, angles)
    np.testing.assert_allclose(got, expected, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_noise(shape, dtype):
    got, expected = run("noise", shape, dtype, batch(shape, dtype, seed=1), 0.3)
    np.testing.assert_allclose(got, expected, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_mixup(shape, dtype):
    n = shape[0]
    x = batch(shape, dtype)
    y = np.eye(4, dtype=dtype)[np.arange(n) % 4]
    perm = np.random.default_rng(2).permutation(n).astype(np.int64)
    ex, ey = np.zeros_like(x), np.zeros_like(y)
    ref_aug.mixup_forward(ex, ey, x, y, perm, 0.3)
    ox, oy = empty_like(x), empty_like(y)
    cuda_aug.mixup_forward(ox, oy, dev(x), dev(y), dev(perm), 0.3)
    np.testing.assert_allclose(host(ox), ex, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(host(oy), ey, rtol=TOL[dtype], atol=TOL[dtype])


def test_host_arrays_are_rejected():
    x = batch((1, 1, 2, 2), np.float32)
    with pytest.raises(TypeError, match="'flip'"):
        cuda_aug.hflip_forward(empty_like(x), dev(x), np.ones(1, np.int64))
    with pytest.raises(TypeError, match="'x'"):
        cuda_aug.noise_forward(empty_like(x), x, dev(x), 0.1)
