"""kernels/samples.py: a sample exists for every kernel function, and reference == cpu on every sample
(seeds 0-2: tiny and full in float32, tiny in float64)."""

import copy
import importlib

import numpy as np
import pytest

import kernels
from kernels.samples import functions, sample

FUNCTIONS = functions()
CASES = [(op, fn, scale, dtype, seed) for scale, dtype in (("tiny", np.float32), ("full", np.float32),
                                                           ("tiny", np.float64))
         for op, fn in FUNCTIONS for seed in (0, 1, 2)]


def _impl(backend, op, fn):
    return getattr(importlib.import_module(f"kernels.{backend}.{op}"), fn)


def test_functions_cover_the_registry():
    listed = set(FUNCTIONS)
    assert len(listed) == len(FUNCTIONS)
    for op in kernels.OPS.values():
        for fn in op.functions:
            assert (op.name, fn) in listed, f"kernels.samples.functions() misses {op.name}.{fn}"


def test_samples_are_fresh_and_deterministic():
    for _, fn in FUNCTIONS:
        a, b = sample(fn, seed=1), sample(fn, seed=1)
        assert a.outputs and len(a.args) == len(b.args)
        for x, y in zip(a.args, b.args):
            if isinstance(x, np.ndarray):
                assert x is not y and x.flags.c_contiguous, fn
                np.testing.assert_array_equal(x, y, err_msg=fn)
        for i in a.outputs:
            assert isinstance(a.args[i], np.ndarray), (fn, i)


def _has_nan_input(s):
    """An argument holding NaN on purpose (not an all-NaN output or workspace)."""
    for a in s.args:
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or not a.size:
            continue
        nan = np.isnan(a)
        if nan.any() and not nan.all():
            return True
    return False


@pytest.mark.parametrize("op,fn,scale,dtype,seed", CASES,
                         ids=[f"{fn}-{sc}-{np.dtype(dt).name}-{s}" for _, fn, sc, dt, s in CASES])
def test_reference_equals_cpu(op, fn, scale, dtype, seed):
    s = sample(fn, scale, dtype, seed)
    ref_args, cpu_args = copy.deepcopy(s.args), copy.deepcopy(s.args)
    _impl("reference", op, fn)(*ref_args)
    _impl("cpu", op, fn)(*cpu_args)
    for i in s.outputs:
        r, c = ref_args[i], cpu_args[i]
        assert r.shape == c.shape and r.dtype == c.dtype, (fn, i)
        if r.dtype.kind == "f" and not _has_nan_input(s):
            assert not np.isnan(r).any(), f"{fn}: output {i} left unwritten (or NaN) by the reference"
        np.testing.assert_allclose(c, r, rtol=s.rtol, atol=s.atol, equal_nan=True,
                                   err_msg=f"{fn} {scale} {np.dtype(dtype).name} seed {seed}: output {i}")
