"""fastnn.nn.utils.clip_grad_norm_ / clip_grad_value_ vs torch.nn.utils: returned norm, clipped gradients,
p = 2 / 1 / 3 / inf, subsets of a model's flat buffer, parameters outside any flat buffer, non-finite norms,
the large-buffer (prange) path."""

from __future__ import annotations

import fastnn  # noqa: F401, I001  # isort: skip

import math

import numpy as np
import pytest
import torch

from fastnn import nn
from fastnn.optim import PARALLEL_MIN_LIGHT
from fastnn.params import FlatParams, Parameter

torch.set_num_threads(1)


def pair(seed: int = 0, scale: float = 1.0):
    """An MLP with random gradients and a torch twin holding the same gradients."""
    fastnn.manual_seed(seed)
    fm = fastnn.models.mlp(hidden=32)
    rng = np.random.default_rng(seed)
    fm.flat.grad[:] = rng.standard_normal(fm.flat.size).astype(np.float32) * scale
    tparams = []
    for p in fm.parameters():
        t = torch.from_numpy(p.data.copy()).requires_grad_()
        t.grad = torch.from_numpy(p.grad.copy())
        tparams.append(t)
    return fm, tparams


def assert_grads(fparams, tparams, rtol=2e-6):
    for p, t in zip(fparams, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("fraction", [0.3, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, fraction):
    fm, tp = pair(scale=0.1)
    before = fm.flat.grad.copy()
    max_norm = fraction * nn.utils.grad_norm(fm.parameters(), norm_type)
    ours = nn.utils.clip_grad_norm_(fm.parameters(), max_norm, norm_type=norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type).item()
    assert isinstance(ours, float)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert_grads(fm.parameters(), tp)
    if fraction > 1:
        np.testing.assert_array_equal(fm.flat.grad, before)  # nothing to clip: untouched
    else:
        assert nn.utils.grad_norm(fm.parameters(), norm_type) == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_of_a_subset_leaves_the_rest():
    fm, tp = pair(seed=1)
    first = (fm[1].weight.grad.copy(), fm[1].bias.grad.copy())
    # the last layer's weight and the first layer's bias: two ranges of the buffer
    ours = nn.utils.clip_grad_norm_([fm[-1].weight, fm[1].bias], 1.0)
    theirs = torch.nn.utils.clip_grad_norm_([tp[2], tp[1]], 1.0).item()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    np.testing.assert_array_equal(fm[1].weight.grad, first[0])
    np.testing.assert_allclose(fm[1].bias.grad, tp[1].grad.numpy(), rtol=2e-6)
    np.testing.assert_allclose(fm[-1].weight.grad, tp[2].grad.numpy(), rtol=2e-6)
    assert not np.allclose(fm[1].bias.grad, first[1])
    np.testing.assert_array_equal(fm[-1].bias.grad, tp[3].grad.numpy())  # not clipped by either


def test_single_parameter_and_loose_parameters():
    rng = np.random.default_rng(2)
    loose = [Parameter(rng.standard_normal((3, 4))), Parameter(rng.standard_normal(5))]
    for p in loose:
        p.grad[...] = rng.standard_normal(p.shape)
    fm, tp = pair(seed=2)
    ts = [torch.from_numpy(p.grad.copy()) for p in loose]
    tl = [torch.zeros(p.shape, requires_grad=True) for p in loose]
    for t, g in zip(tl, ts):
        t.grad = g
    ours = nn.utils.clip_grad_norm_([*fm.parameters(), *loose], 2.0)
    theirs = torch.nn.utils.clip_grad_norm_([*tp, *tl], 2.0).item()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert_grads([*fm.parameters(), *loose], [*tp, *tl])
    one = nn.utils.clip_grad_norm_(loose[0], 0.1)
    np.testing.assert_allclose(one, torch.nn.utils.clip_grad_norm_(tl[0], 0.1).item(), rtol=1e-5)
    np.testing.assert_allclose(loose[0].grad, tl[0].grad.numpy(), rtol=2e-6)


def test_empty_parameter_list():
    assert nn.utils.clip_grad_norm_([], 1.0) == 0.0
    nn.utils.clip_grad_value_([], 1.0)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_nonfinite_norm(bad):
    fm, tp = pair(seed=3)
    fm.flat.grad[7] = bad
    tp[0].grad.view(-1)[7] = bad
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(fm.parameters(), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(tp, 1.0, error_if_nonfinite=True)
    # without the error: scaled like torch (inf norm -> coefficient 0 -> zeros and a NaN; NaN norm -> all NaN)
    ours = nn.utils.clip_grad_norm_(fm.parameters(), 1.0)
    theirs = torch.nn.utils.clip_grad_norm_(tp, 1.0).item()
    assert (np.isnan(ours) and np.isnan(theirs)) or ours == theirs
    for p, t in zip(fm.parameters(), tp):
        np.testing.assert_array_equal(np.isnan(p.grad), np.isnan(t.grad.numpy()))
        np.testing.assert_array_equal(np.nan_to_num(p.grad), np.nan_to_num(t.grad.numpy()))


def test_bad_norm_type():
    fm, _ = pair()
    for bad in (0.0, -1.0, -math.inf):
        with pytest.raises(ValueError, match="norm_type"):
            nn.utils.clip_grad_norm_(fm.parameters(), 1.0, norm_type=bad)
    with pytest.raises(TypeError, match="Parameter"):
        nn.utils.clip_grad_norm_([torch.zeros(3)], 1.0)


@pytest.mark.parametrize("clip", [0.05, 10.0])
def test_clip_grad_value_matches_torch(clip):
    fm, tp = pair(seed=4)
    fm.flat.grad[3] = np.nan
    tp[0].grad.view(-1)[3] = np.nan
    assert nn.utils.clip_grad_value_(fm.parameters(), clip) is None
    torch.nn.utils.clip_grad_value_(tp, clip)
    for p, t in zip(fm.parameters(), tp):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
    # a subset: only those ranges
    fm, tp = pair(seed=5)
    rest = fm[1].weight.grad.copy()
    nn.utils.clip_grad_value_([fm[1].bias, fm[-1].weight], 0.1)
    np.testing.assert_array_equal(fm[1].weight.grad, rest)
    assert np.abs(fm[1].bias.grad).max() <= np.float32(0.1)
    assert np.abs(fm[-1].bias.grad).max() > 0.1


def test_large_buffer_uses_parallel_kernels_and_matches_numpy():
    rng = np.random.default_rng(6)
    big = Parameter(np.zeros(PARALLEL_MIN_LIGHT + 12345, np.float32))
    small = Parameter(np.zeros(10, np.float32))
    flat = FlatParams([big, small])
    flat.grad[:] = rng.standard_normal(flat.size).astype(np.float32)
    g64 = flat.grad.astype(np.float64)
    expected = math.sqrt(float(np.sum(g64 * g64)))
    norm = nn.utils.clip_grad_norm_([big, small], 100.0)
    np.testing.assert_allclose(norm, expected, rtol=1e-12)
    np.testing.assert_allclose(flat.grad, (g64 * np.float32(100.0 / (expected + 1e-6))).astype(np.float32),
                               rtol=1e-6)
    nn.utils.clip_grad_value_([big], 0.01)
    assert np.abs(big.grad).max() <= np.float32(0.01) and np.abs(small.grad).max() > 0.01
