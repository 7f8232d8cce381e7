"""kernels/cpu/_blas.py gemm_into: c = a @ b + beta * c on strided views, against NumPy."""

import numpy as np
import pytest
from numba import njit

from kernels.cpu._blas import gemm_into


@njit(cache=False)
def _window_times_transposed(c, planes, g, off, beta):
    """The conv backward's use: a window of rows of a wider matrix times a transposed matrix."""
    gemm_into(c, planes[:, off:off + g.shape[1]], g.T, beta)


@njit(cache=False)
def _into_strided_rows(c3, tap, a, b, beta):
    gemm_into(c3[:, tap, :], a, b, beta)


@njit(cache=False)
def _transposed_a(c, a, b, beta):
    gemm_into(c, a.T, b[:, 1:], beta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_gemm_into_strided_views_match_numpy(dtype, beta):
    rng = np.random.default_rng(0)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    planes, g = rng.standard_normal((16, 900)).astype(dtype), rng.standard_normal((20, 840)).astype(dtype)
    c = rng.standard_normal((16, 20)).astype(dtype)
    expected = planes[:, 31:871] @ g.T + beta * c
    if beta == 0:
        c[0, 0] = np.nan   # beta 0: c is not read
    _window_times_transposed(c, planes, g, 31, beta)
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)

    c3 = rng.standard_normal((7, 9, 5)).astype(dtype)
    a, b = rng.standard_normal((7, 11)).astype(dtype), rng.standard_normal((11, 5)).astype(dtype)
    expected3 = c3.copy()
    expected3[:, 4] = a @ b + beta * c3[:, 4]
    _into_strided_rows(c3, 4, a, b, beta)
    np.testing.assert_allclose(c3, expected3, rtol=tol, atol=tol)

    c = rng.standard_normal((6, 4)).astype(dtype)
    a, b = rng.standard_normal((3, 6)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)
    expected = a.T @ b[:, 1:] + beta * c
    _transposed_a(c, a, b, beta)
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)


def test_gemm_into_empty_inner_dimension_scales_c():
    c = np.ones((2, 3))
    _transposed_a(c, np.zeros((0, 2)), np.zeros((0, 4)), 0.5)
    np.testing.assert_array_equal(c, np.full((2, 3), 0.5))
    _transposed_a(c, np.zeros((0, 2)), np.zeros((0, 4)), 0.0)
    np.testing.assert_array_equal(c, np.zeros((2, 3)))
