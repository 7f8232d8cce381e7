"""kernels.cuda.dropout (simulator) == kernels.reference.dropout: dropout / dropout2d forward and backward
(float32, float64, lengths and row widths not divisible by the block size, NaN through kept elements) and
dropout_mask bit-identical to the reference for seeds and counters across the whole uint64 range."""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cuda import dropout as cuda_drop
from kernels.reference import dropout as ref_drop

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # uint64 wraps (simulator)

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-6, np.float64: 1e-12}


def case(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[0] = np.nan  # NaN in x stays NaN where kept, 0 * NaN = NaN where dropped (as the reference)
    mask = (rng.random(shape[0]) >= 0.4).astype(np.uint8)
    mask[0] = 1
    return x, mask


@pytest.mark.parametrize("n", [1, 300])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout(dtype, n):
    x, mask = case((n,), dtype)
    for fn in ("dropout_forward", "dropout_backward"):
        expected = np.zeros_like(x)
        out = empty_like(x)
        if fn == "dropout_forward":
            ref_drop.dropout_forward(expected, mask, x, 1 / 0.6)
            cuda_drop.dropout_forward(out, dev(mask), dev(x), 1 / 0.6)
        else:
            ref_drop.dropout_backward(expected, x, mask, 1 / 0.6)
            cuda_drop.dropout_backward(out, dev(x), dev(mask), 1 / 0.6)
        np.testing.assert_allclose(host(out), expected, rtol=TOL[dtype])
        assert (host(out)[mask == 0] == 0).all()


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (5, 61)], ids=["1x1", "3x1", "5x61"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout2d(dtype, shape):
    x, mask = case(shape, dtype, seed=1)
    for fn in ("dropout2d_forward", "dropout2d_backward"):
        expected = np.zeros_like(x)
        out = empty_like(x)
        if fn == "dropout2d_forward":
            ref_drop.dropout2d_forward(expected, mask, x, 2.0)
            cuda_drop.dropout2d_forward(out, dev(mask), dev(x), 2.0)
        else:
            ref_drop.dropout2d_backward(expected, x, mask, 2.0)
            cuda_drop.dropout2d_backward(out, dev(x), dev(mask), 2.0)
        np.testing.assert_allclose(host(out), expected, rtol=TOL[dtype])


@pytest.mark.parametrize("n, p, seed, counter", [(1, 0.5, 0, 0), (300, 0.3, 1234, 7),
                                                 (257, 0.5, 2**64 - 1, 2**63 + 11), (40, 0.0, 5, 1),
                                                 (40, 1.0, 5, 1)])
def test_dropout_mask_bit_identical(n, p, seed, counter):
    expected = np.full(n, 7, np.uint8)
    ref_drop.dropout_mask(expected, p, seed, counter)
    mask = empty_like(expected)
    cuda_drop.dropout_mask(mask, p, seed, counter)
    np.testing.assert_array_equal(host(mask), expected)
    if p in (0.0, 1.0):
        assert (expected == (p == 0.0)).all()


def test_host_arrays_are_rejected():
    x, mask = case((4,), np.float32)
    with pytest.raises(TypeError, match="'mask'"):
        cuda_drop.dropout_forward(empty_like(x), mask, dev(x), 2.0)
    with pytest.raises(TypeError, match="'mask'"):
        cuda_drop.dropout_mask(mask, 0.5, 0, 0)
