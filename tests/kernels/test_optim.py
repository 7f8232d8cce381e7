"""sgd_update / adam_update over a flat buffer with a segment table: reference == cpu and PyTorch's
SGD / Adam trajectories over 3 steps, two segments with different lr / weight decay (two param
groups in torch), plus a frozen stretch that no segment covers and that must stay untouched."""

import numpy as np
import pytest
import torch
from gradcheck import assert_close

import kernels

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]
STEPS = 3

# two segments [0, 5) and [5, 13) of a 13-long buffer
SEGMENTS = [(0, 5), (5, 13)]
SIZE = 13
SGD_GROUPS = [dict(lr=0.1, weight_decay=0.0), dict(lr=0.03, weight_decay=0.05)]
ADAM_GROUPS = [dict(lr=1e-2, weight_decay=0.01), dict(lr=3e-3, weight_decay=0.0)]
SGD_CONFIGS = [  # (momentum, dampening, nesterov)
    (0.9, 0.0, False),
    (0.9, 0.1, False),
    (0.9, 0.0, True),
    (0.0, 0.0, False),
]
SGD_IDS = ["momentum", "dampening0.1", "nesterov", "plain"]
BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


def table(segments, groups):
    return (np.array([s for s, _ in segments], dtype=np.int64),
            np.array([e for _, e in segments], dtype=np.int64),
            np.array([g["lr"] for g in groups], dtype=np.float64),
            np.array([g["weight_decay"] for g in groups], dtype=np.float64))


def problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(SIZE).astype(dtype)
    grads = [rng.standard_normal(SIZE).astype(dtype) for _ in range(STEPS)]
    return params, grads


def run_sgd(mod, params, grads, segments, groups, momentum, dampening, nesterov):
    p = params.copy()
    velocity = np.full_like(p, np.nan if momentum == 0 else 0.0)  # unused (and must stay so) without momentum
    for t, g in enumerate(grads):
        mod.sgd_update(p, velocity, g, *table(segments, groups), momentum, dampening, nesterov, t == 0)
    return p, velocity


def run_adam(mod, params, grads, segments, groups):
    p = params.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        bc1, bc2 = 1.0 - BETA1 ** t, 1.0 - BETA2 ** t
        mod.adam_update(p, m, v, g, *table(segments, groups), BETA1, BETA2, ADAM_EPS, bc1, bc2)
    return p, m, v


def torch_run(make_opt, params, grads, segments, groups):
    """One torch tensor per segment, one param group each; returns the parameters re-flattened."""
    tensors = [torch.tensor(params[s:e], requires_grad=True) for s, e in segments]
    opt = make_opt([dict(params=[t], **g) for t, g in zip(tensors, groups)])
    for g in grads:
        for t, (s, e) in zip(tensors, segments):
            t.grad = torch.tensor(g[s:e])
        opt.step()
    return np.concatenate([t.detach().numpy() for t in tensors])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,dampening,nesterov", SGD_CONFIGS, ids=SGD_IDS)
def test_sgd_cpu_matches_reference(momentum, dampening, nesterov, dtype):
    params, grads = problem(dtype)
    p_ref, v_ref = run_sgd(REF, params, grads, SEGMENTS, SGD_GROUPS, momentum, dampening, nesterov)
    p_cpu, v_cpu = run_sgd(CPU, params, grads, SEGMENTS, SGD_GROUPS, momentum, dampening, nesterov)
    assert p_cpu.dtype == dtype
    assert_close(p_cpu, p_ref, dtype)
    assert_close(v_cpu, v_ref, dtype)
    assert not np.allclose(p_cpu, params)
    if momentum == 0:
        assert np.isnan(v_cpu).all() and np.isnan(v_ref).all(), "plain SGD must not touch the velocity"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,dampening,nesterov", SGD_CONFIGS, ids=SGD_IDS)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_sgd_matches_torch(backend, momentum, dampening, nesterov, dtype):
    params, grads = problem(dtype, seed=1)
    ours, _ = run_sgd(BACKENDS[backend], params, grads, SEGMENTS, SGD_GROUPS, momentum, dampening, nesterov)
    theirs = torch_run(lambda groups: torch.optim.SGD(groups, lr=1.0, momentum=momentum, dampening=dampening,
                                                      nesterov=nesterov),
                       params, grads, SEGMENTS, SGD_GROUPS)
    assert_close(ours, theirs, dtype, tol=1e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_cpu_matches_reference(dtype):
    params, grads = problem(dtype, seed=2)
    out_ref = run_adam(REF, params, grads, SEGMENTS, ADAM_GROUPS)
    out_cpu = run_adam(CPU, params, grads, SEGMENTS, ADAM_GROUPS)
    for name, a, r in zip(("params", "m", "v"), out_cpu, out_ref):
        assert a.dtype == dtype
        assert_close(a, r, dtype, what=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_adam_matches_torch(backend, dtype):
    params, grads = problem(dtype, seed=3)
    ours, _, _ = run_adam(BACKENDS[backend], params, grads, SEGMENTS, ADAM_GROUPS)
    theirs = torch_run(lambda groups: torch.optim.Adam(groups, lr=1.0, betas=(BETA1, BETA2), eps=ADAM_EPS),
                       params, grads, SEGMENTS, ADAM_GROUPS)
    assert_close(ours, theirs, dtype, tol=1e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_frozen_stretch_untouched(backend, opt):
    # segments [0, 4) and [7, 13): [4, 7) is frozen (absent from the table)
    segments = [(0, 4), (7, 13)]
    params, grads = problem(np.float64, seed=4)
    mod = BACKENDS[backend]
    if opt == "sgd":
        out = run_sgd(mod, params, grads, segments, SGD_GROUPS, 0.9, 0.0, False)[0]
        expected = torch_run(lambda g: torch.optim.SGD(g, lr=1.0, momentum=0.9),
                             params, grads, segments, SGD_GROUPS)
    else:
        out = run_adam(mod, params, grads, segments, ADAM_GROUPS)[0]
        expected = torch_run(lambda g: torch.optim.Adam(g, lr=1.0, betas=(BETA1, BETA2), eps=ADAM_EPS),
                             params, grads, segments, ADAM_GROUPS)
    np.testing.assert_array_equal(out[4:7], params[4:7])
    assert_close(np.concatenate([out[:4], out[7:]]), expected, np.float64, tol=1e-13)
