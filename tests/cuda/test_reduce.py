"""CUDA reductions and rescaling over a segment table (kernels/cuda/reduce.py) against the NumPy reference, on
the simulator: sumsq, sum_abs_pow, absmax (float64 sums/max written to out[0] on the device; NaN and inf
propagate; 0 for an empty table), scale, clip_value (NaN stays); frozen stretches never read or written, a
buffer of two chunks, one reduction block walking several chunks; host arrays rejected.
"""

import inspect

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cpu import reduce as cpu_reduce
from kernels.cuda import reduce as cuda_reduce
from kernels.cuda.optim import CHUNK
from kernels.reference import reduce as ref_reduce

SIZE = 45
SEGMENTS = [(30, 43), (0, 11), (17, 30), (5, 5)]  # out of order, odd lengths, an empty one; 11..16, 43.. frozen
TOL = {np.float32: 1e-6, np.float64: 1e-10}  # relative (float64 accumulation in both)


def seg_table(segments):
    return (np.array([s for s, _ in segments], np.int64), np.array([e for _, e in segments], np.int64))


def data(dtype, size=SIZE, seed=0, frozen_nan=True):
    """Random values with a zero; frozen elements NaN (a reduction reading them would return NaN)."""
    x = np.random.default_rng(seed).standard_normal(size).astype(dtype) * 3
    x[2] = 0.0
    if frozen_nan:
        covered = np.zeros(size, bool)
        for s, e in SEGMENTS:
            covered[s:e] = True
        x[~covered] = np.nan
    return x


def reduce_both(name, x, segments, *extra):
    out_ref = np.full(1, np.nan)
    getattr(ref_reduce, name)(out_ref, x, *seg_table(segments), *extra)
    out = empty_like(out_ref)
    getattr(cuda_reduce, name)(out, dev(x), *(dev(a) for a in seg_table(segments)), *extra)
    return host(out)[0], out_ref[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,extra", [("sumsq", ()), ("sum_abs_pow", (1.0,)), ("sum_abs_pow", (2.0,)),
                                        ("sum_abs_pow", (3.0,)), ("sum_abs_pow", (0.5,)), ("absmax", ())],
                         ids=["sumsq", "p1", "p2", "p3", "p0.5", "absmax"])
def test_reduction_matches_reference(name, extra, dtype):
    got, want = reduce_both(name, data(dtype), SEGMENTS, *extra)
    assert np.isfinite(want)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=0)


@pytest.mark.parametrize("name,extra", [("sumsq", ()), ("sum_abs_pow", (1.5,)), ("absmax", ())])
def test_nan_inf_and_empty(name, extra):
    x = data(np.float32)
    x[20] = np.inf
    got, want = reduce_both(name, x, SEGMENTS, *extra)
    assert got == want == np.inf
    x[35] = np.nan
    got, want = reduce_both(name, x, SEGMENTS, *extra)
    assert np.isnan(got) and np.isnan(want)
    got, want = reduce_both(name, x, [], *extra)  # empty table: 0 (out is still written)
    assert got == want == 0.0


def test_two_chunks_and_one_block_walking_several(monkeypatch):
    """size > CHUNK: two blocks; then PARTIALS = 1: one block walks both chunks (grid-stride)."""
    x = np.random.default_rng(1).standard_normal(CHUNK + 37)
    segments = [(CHUNK - 5, CHUNK + 30), (0, CHUNK - 9)]
    want = sum(float(np.sum(x[s:e] ** 2)) for s, e in segments)
    got, ref = reduce_both("sumsq", x, segments)
    np.testing.assert_allclose([got, ref], want, rtol=1e-12)
    monkeypatch.setattr(cuda_reduce, "PARTIALS", 1)
    got, _ = reduce_both("sumsq", x, segments)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    x[CHUNK + 10] = -40.0
    got, _ = reduce_both("absmax", x, segments)
    assert got == 40.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,arg", [("scale", 0.3), ("clip_value", 1.5)])
def test_inplace_matches_reference(name, arg, dtype):
    x = data(dtype)
    x[25] = np.nan  # clip_value: NaN stays NaN; scale: NaN * s
    want = x.copy()
    getattr(ref_reduce, name)(want, *seg_table(SEGMENTS), arg)
    d = dev(x)
    getattr(cuda_reduce, name)(d, *(dev(a) for a in seg_table(SEGMENTS)), arg)
    got = host(d)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=0)  # NaN positions must agree
    frozen = np.isnan(x)
    frozen[25] = False
    assert np.isnan(got[frozen]).all()  # the frozen NaNs were left alone (not written)


def test_single_element():
    x = np.array([-2.5])
    got, want = reduce_both("absmax", x, [(0, 1)])
    assert got == want == 2.5
    d = dev(x)
    cuda_reduce.scale(d, *(dev(a) for a in seg_table([(0, 1)])), 2.0)
    assert host(d)[0] == -5.0


def test_host_array_is_rejected():
    x = data(np.float32)
    ss, se = (dev(a) for a in seg_table(SEGMENTS))
    with pytest.raises(TypeError, match="'out'"):
        cuda_reduce.sumsq(np.zeros(1), dev(x), ss, se)
    with pytest.raises(TypeError, match="'x'"):
        cuda_reduce.clip_value(x, ss, se, 1.0)
    with pytest.raises(TypeError, match="'seg_end'"):
        cuda_reduce.absmax(dev(np.zeros(1)), dev(x), ss, seg_table(SEGMENTS)[1])


def test_names_and_signatures_match_cpu():
    assert cuda_reduce.__all__ == cpu_reduce.__all__
    for name in cpu_reduce.__all__:
        cpu_fn, cuda_fn = getattr(cpu_reduce, name), getattr(cuda_reduce, name)
        assert list(inspect.signature(cuda_fn).parameters) == list(inspect.signature(cpu_fn.py_func).parameters)
