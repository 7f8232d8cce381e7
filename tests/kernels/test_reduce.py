"""Reduction / rescaling kernels over the segments of a flat buffer (kernels/reference/reduce.py):
sumsq, sum_abs_pow, absmax, scale, clip_value. reference == cpu (and the *_parallel twins), float32 and
float64, out-of-order segments with a gap that must stay untouched, empty tables, NaN / inf propagation,
and the norms against torch.linalg.vector_norm."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before torch starts)

import numpy as np
import pytest
import torch
from gradcheck import assert_close

import kernels
from kernels.cpu import optim as cpu_optim

REF = kernels.get("reference")
CPU = kernels.get("cpu")
DTYPES = [np.float32, np.float64]
SIZE = 50
SEGMENTS = [(30, 50), (0, 11), (17, 30)]  # [11, 17) is outside every segment
GAP = slice(11, 17)


def table(segments=SEGMENTS):
    return (np.array([s for s, _ in segments], dtype=np.int64), np.array([e for _, e in segments], dtype=np.int64))


def data(dtype, size=SIZE, seed=0):
    x = np.random.default_rng(seed).standard_normal(size).astype(dtype) * 3
    x[5] = 0.0
    return x


def covered(x, segments=SEGMENTS):
    return np.concatenate([x[s:e] for s, e in segments]).astype(np.float64)


def reduce_out(fn, x, *extra, segments=SEGMENTS):
    out = np.full(1, -1.0)
    fn(out, x, *table(segments), *extra)
    return out[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ["reference", "cpu", "cpu_parallel"])
def test_norm_reductions(backend, dtype):
    x = data(dtype)
    mod = REF if backend == "reference" else CPU
    sfx = "_parallel" if backend == "cpu_parallel" else ""
    c = covered(x)
    tol = 1e-12
    sq = reduce_out(getattr(mod, "sumsq" + sfx), x)
    np.testing.assert_allclose(sq, np.sum(c * c), rtol=tol)
    if not sfx:
        for p in (1.0, 3.0, 0.5):
            got = reduce_out(mod.sum_abs_pow, x, p)
            np.testing.assert_allclose(got, np.sum(np.abs(c) ** p), rtol=tol)
        assert reduce_out(mod.absmax, x) == np.max(np.abs(c))
    # x itself untouched
    np.testing.assert_array_equal(x, data(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_norms_match_torch_vector_norm(dtype):
    x = data(dtype, seed=1)
    t = torch.from_numpy(covered(x))
    np.testing.assert_allclose(np.sqrt(reduce_out(CPU.sumsq, x)), torch.linalg.vector_norm(t, 2).item(), rtol=1e-12)
    np.testing.assert_allclose(reduce_out(CPU.sum_abs_pow, x, 3.0) ** (1 / 3), torch.linalg.vector_norm(t, 3).item(),
                               rtol=1e-12)
    assert reduce_out(CPU.absmax, x) == torch.linalg.vector_norm(t, float("inf")).item()


NAN_CASES = [(b, f) for b in ("reference", "cpu") for f in ("sumsq", "sum_abs_pow", "absmax")]
NAN_CASES.append(("cpu", "sumsq_parallel"))


@pytest.mark.parametrize("backend,fn", NAN_CASES)
def test_nan_and_inf_propagate(backend, fn):
    mod = REF if backend == "reference" else CPU
    extra = (2.0,) if fn == "sum_abs_pow" else ()
    x = data(np.float32)
    x[20] = np.inf
    assert reduce_out(getattr(mod, fn), x, *extra) == np.inf
    x[40] = np.nan  # after the inf in the buffer, also in a different segment than the inf
    assert np.isnan(reduce_out(getattr(mod, fn), x, *extra))
    x = data(np.float32)
    x[0] = np.nan  # first element: a max that skips NaN would lose it
    assert np.isnan(reduce_out(getattr(mod, fn), x, *extra))
    x = data(np.float32)
    x[GAP] = np.nan  # outside every segment: not read
    assert np.isfinite(reduce_out(getattr(mod, fn), x, *extra))


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_empty_table(backend):
    mod = REF if backend == "reference" else CPU
    x = data(np.float32)
    empty = [(3, 3)]
    assert reduce_out(mod.sumsq, x, segments=empty) == 0.0
    assert reduce_out(mod.absmax, x, segments=empty) == 0.0
    assert reduce_out(mod.sum_abs_pow, x, 2.0, segments=empty) == 0.0
    y = x.copy()
    mod.scale(y, *table(empty), 0.5)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn,arg", [("scale", 0.37), ("scale", -2.0), ("clip_value", 1.5), ("clip_value", 0.0)])
def test_scale_and_clip_value(fn, arg, dtype):
    x = data(dtype, seed=2)
    x[25] = np.nan
    outs = {}
    for name, f in (("reference", getattr(REF, fn)), ("cpu", getattr(CPU, fn)),
                    ("cpu_parallel", getattr(CPU, fn + "_parallel"))):
        y = x.copy()
        f(y, *table(), arg)
        outs[name] = y
    c = x.copy()
    for s, e in SEGMENTS:
        c[s:e] = c[s:e] * dtype(arg) if fn == "scale" else torch.from_numpy(c[s:e]).clamp(-arg, arg).numpy()
    for name, y in outs.items():
        assert y.dtype == dtype
        np.testing.assert_array_equal(y[GAP], x[GAP], err_msg=name)
        assert np.isnan(y[25]), name
        assert_close(np.nan_to_num(y), np.nan_to_num(c), dtype, what=name)
    np.testing.assert_array_equal(outs["cpu"], outs["cpu_parallel"])


def test_parallel_twins_across_chunks():
    chunk = cpu_optim.PARALLEL_CHUNK
    x = data(np.float32, size=2 * chunk + 500, seed=3)
    segs = [(chunk - 10, 2 * chunk + 400), (0, chunk - 50)]
    s, e = table(segs)
    a, b = np.zeros(1), np.zeros(1)
    CPU.sumsq(a, x, s, e)
    CPU.sumsq_parallel(b, x, s, e)
    np.testing.assert_allclose(b[0], a[0], rtol=1e-12)
    for fn, arg in (("scale", 0.5), ("clip_value", 0.7)):
        y, z = x.copy(), x.copy()
        getattr(CPU, fn)(y, s, e, arg)
        getattr(CPU, fn + "_parallel")(z, s, e, arg)
        np.testing.assert_array_equal(y, z)
        np.testing.assert_array_equal(y[chunk - 50:chunk - 10], x[chunk - 50:chunk - 10])


@pytest.mark.parametrize("dtype", DTYPES)
def test_absmax_bit_pattern_max_over_the_whole_range(dtype):
    """The cpu absmax takes an integer max over IEEE bit patterns: check it across magnitudes, subnormals,
    zeros, -0.0, inf and NaN of either sign."""
    rng = np.random.default_rng(7)
    info = np.finfo(dtype)
    specials = [0.0, -0.0, info.smallest_subnormal, -info.smallest_subnormal * 3, info.tiny, info.max, -info.max,
                np.inf, -np.inf, np.nan, -np.nan]
    for trial in range(60):
        x = (rng.standard_normal(40) * 10.0 ** rng.integers(-30, 30)).astype(dtype)
        x[rng.integers(0, 40, 2)] = rng.choice(specials, 2)
        if trial % 5 == 0:
            x[:] = 0.0
            x[rng.integers(0, 40)] = rng.choice(specials)
        want = reduce_out(REF.absmax, x, segments=[(0, 15), (20, 40)])
        got = reduce_out(CPU.absmax, x, segments=[(0, 15), (20, 40)])
        assert (np.isnan(want) and np.isnan(got)) or got == want, (trial, got, want)
