"""CUDA optimizer updates (kernels/cuda/optim.py) against the NumPy reference, on the simulator.

Every rule and mode over several steps, float32 and float64, with a segment table out of order, with odd
segment lengths, an empty segment and frozen stretches (no segment: never read or written); a buffer of
several chunks with segments crossing chunk boundaries; host arrays rejected; the CPU layout's names and
signatures. Rules: sgd_update, momentum_update, adagrad_update, rmsprop_update, rmsprop_nesterov_update,
adam_update, adamax_update, nadam_update (and their *_parallel aliases).
"""

import inspect
import math

import numpy as np
import pytest
from devarrays import dev, host

from kernels.cpu import optim as cpu_optim
from kernels.cuda import optim as cuda_optim
from kernels.reference import optim as ref_optim

STEPS = 3
SIZE = 41
# out of order, odd lengths, an empty segment; [9, 13) and [40, 41) are frozen
SEGMENTS = [(25, 40), (0, 9), (13, 25), (30, 30)]
FROZEN = [slice(9, 13), slice(40, 41)]
GROUPS = [dict(lr=0.05, wd=0.0, l1=0.0), dict(lr=0.02, wd=0.05, l1=0.0), dict(lr=0.01, wd=0.01, l1=0.003),
          dict(lr=0.5, wd=0.5, l1=0.5)]
N_STATE = {"sgd": 1, "momentum": 1, "adagrad": 1, "rmsprop": 3, "rmsprop_nesterov": 3, "adam": 3, "adamax": 2,
           "nadam": 2}
CONFIGS = {
    "sgd": [dict(momentum=0.0, dampening=0.0, nesterov=False, maximize=False),
            dict(momentum=0.9, dampening=0.1, nesterov=False, maximize=True),
            dict(momentum=0.9, dampening=0.0, nesterov=True, maximize=False)],
    "momentum": [dict(momentum=0.9, nesterov=False, maximize=False),
                 dict(momentum=0.8, nesterov=True, maximize=True)],
    "adagrad": [dict(eps=1e-10, maximize=False), dict(eps=1e-6, maximize=True)],
    "rmsprop": [dict(alpha=0.99, eps=1e-8, momentum=0.0, centered=False, eps_inside=False, maximize=False),
                dict(alpha=0.9, eps=1e-8, momentum=0.9, centered=False, eps_inside=False, maximize=True),
                dict(alpha=0.9, eps=1e-6, momentum=0.5, centered=True, eps_inside=True, maximize=False)],
    "rmsprop_nesterov": [dict(alpha=0.9, eps=1e-6, momentum=0.9, centered=False, eps_inside=True, maximize=False),
                         dict(alpha=0.99, eps=1e-8, momentum=0.5, centered=True, eps_inside=False, maximize=True)],
    "adam": [dict(betas=(0.9, 0.999), eps=1e-8, amsgrad=False, decoupled=False, maximize=False),
             dict(betas=(0.8, 0.99), eps=1e-6, amsgrad=True, decoupled=False, maximize=True),
             dict(betas=(0.9, 0.999), eps=1e-8, amsgrad=True, decoupled=True, maximize=False)],
    "adamax": [dict(betas=(0.9, 0.999), eps=1e-8, maximize=False), dict(betas=(0.8, 0.9), eps=1e-6, maximize=True)],
    "nadam": [dict(betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3, decoupled=False, maximize=False),
              dict(betas=(0.8, 0.99), eps=1e-6, momentum_decay=1e-2, decoupled=True, maximize=True)],
}
# every mode in float64; in float32 (the simulator is slow: ~0.3 s a launch) each rule's richest mode, as
# the float32 kernels are the same code (their compilation is checked in tests/kernels/test_cuda_ptx_optim.py)
CASES = [(rule, i, np.float64) for rule, cfgs in CONFIGS.items() for i in range(len(cfgs))] + \
    [(rule, len(cfgs) - 1, np.float32) for rule, cfgs in CONFIGS.items()]
CASE_IDS = [f"{rule}-{i}-{np.dtype(dt).name}" for rule, i, dt in CASES]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def uses_state(rule, cfg):
    """Which of the rule's state buffers the configuration uses (the others stay NaN)."""
    if rule == "sgd":
        return [cfg["momentum"] != 0]
    if rule in ("rmsprop", "rmsprop_nesterov"):
        return [True, cfg["centered"], rule == "rmsprop_nesterov" or cfg["momentum"] > 0]
    if rule == "adam":
        return [True, True, cfg["amsgrad"]]
    return [True] * N_STATE[rule]


def nadam_coefficients(cfg, t):
    b1, psi = cfg["betas"][0], cfg["momentum_decay"]
    mus = [b1 * (1 - 0.5 * 0.96 ** (i * psi)) for i in range(1, t + 2)]
    prod_t = math.prod(mus[:t])
    return (1 - mus[t - 1]) / (1 - prod_t), mus[t] / (1 - prod_t * mus[t])


def scalars(rule, cfg, t):
    """The host-computed trailing scalar arguments of step t (1-based), as the optimizers pass them."""
    if rule == "sgd":
        return (cfg["momentum"], cfg["dampening"], cfg["nesterov"], cfg["maximize"], t == 1)
    if rule == "momentum":
        return (cfg["momentum"], cfg["nesterov"], cfg["maximize"])
    if rule == "adagrad":
        return (cfg["eps"], cfg["maximize"])
    if rule in ("rmsprop", "rmsprop_nesterov"):
        return (cfg["alpha"], cfg["eps"], cfg["momentum"], cfg["centered"], cfg["eps_inside"], cfg["maximize"])
    b1, b2 = cfg["betas"]
    if rule == "adam":
        return (b1, b2, cfg["eps"], 1 - b1 ** t, 1 - b2 ** t, cfg["amsgrad"], cfg["decoupled"], cfg["maximize"])
    if rule == "adamax":
        return (b1, b2, cfg["eps"], 1 - b1 ** t, cfg["maximize"])
    c_grad, c_avg = nadam_coefficients(cfg, t)
    return (b1, b2, cfg["eps"], 1 - b2 ** t, c_grad, c_avg, cfg["decoupled"], cfg["maximize"])


def table(segments, groups):
    return (np.array([s for s, _ in segments], np.int64), np.array([e for _, e in segments], np.int64),
            *(np.array([g[k] for g in groups], np.float64) for k in ("lr", "wd", "l1")))


def problem(dtype, size, seed, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(size).astype(dtype)
    params[::7] = 0.0  # sign(0) = 0 in the L1 term
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(steps)]
    if steps > 1 and size > 3:
        grads[1][3] = 0.0
    return params, grads


def run_both(rule, cfg, params, grads, segments, groups):
    """(reference params, states), (cuda params, states) after len(grads) steps from zero (unused: NaN) state."""
    state = [np.full(params.size, 0.0 if used else np.nan, params.dtype) for used in uses_state(rule, cfg)]
    tab = table(segments, groups)
    p_ref, s_ref = params.copy(), [s.copy() for s in state]
    p_dev, s_dev, tab_dev = dev(params), [dev(s) for s in state], [dev(a) for a in tab]
    fn_ref, fn_dev = getattr(ref_optim, f"{rule}_update"), getattr(cuda_optim, f"{rule}_update")
    for t, g in enumerate(grads, start=1):
        fn_ref(p_ref, *s_ref, g, *tab, *scalars(rule, cfg, t))
        fn_dev(p_dev, *s_dev, dev(g), *tab_dev, *scalars(rule, cfg, t))
    return (p_ref, s_ref), (host(p_dev), [host(s) for s in s_dev])


def check(rule, cfg, ref, got, dtype):
    (p_ref, s_ref), (p_dev, s_dev) = ref, got
    assert p_dev.dtype == dtype
    np.testing.assert_allclose(p_dev, p_ref, **TOL[dtype], err_msg="params")
    for k, (a, r, used) in enumerate(zip(s_dev, s_ref, uses_state(rule, cfg))):
        if used:
            np.testing.assert_allclose(a, r, **TOL[dtype], err_msg=f"state {k}")
        else:
            assert np.isnan(a).all(), f"unused state {k} was written"


@pytest.mark.parametrize("rule,i,dtype", CASES, ids=CASE_IDS)
def test_matches_reference(rule, i, dtype):
    cfg = CONFIGS[rule][i]
    params, grads = problem(dtype, SIZE, seed=i)
    ref, got = run_both(rule, cfg, params, grads, SEGMENTS, GROUPS)
    check(rule, cfg, ref, got, dtype)
    for sl in FROZEN:  # never written: bitwise the initial values, state still zero
        np.testing.assert_array_equal(got[0][sl], params[sl])
    for s, e in SEGMENTS[:3]:
        assert not np.allclose(got[0][s:e], params[s:e])


@pytest.mark.parametrize("rule,i", [("adam", 2), ("rmsprop", 2)], ids=["adam", "rmsprop"])
def test_two_chunks(rule, i):
    """Two blocks: a segment crossing the chunk boundary, a 1-element segment, frozen gaps, a frozen tail."""
    c = cuda_optim.CHUNK
    size = c + 37
    segments = [(c - 5, c + 20), (0, c - 9), (c + 30, c + 31)]
    params, grads = problem(np.float32, size, seed=7, steps=2)
    ref, got = run_both(rule, CONFIGS[rule][i], params, grads, segments, GROUPS[:3])
    check(rule, CONFIGS[rule][i], ref, got, np.float32)
    for sl in (slice(c - 9, c - 5), slice(c + 20, c + 30), slice(c + 31, size)):
        np.testing.assert_array_equal(got[0][sl], params[sl])


def test_single_element_single_segment():
    params, grads = problem(np.float64, 1, seed=3, steps=1)
    ref, got = run_both("adam", CONFIGS["adam"][0], params, grads, [(0, 1)], GROUPS[:1])
    check("adam", CONFIGS["adam"][0], ref, got, np.float64)


def test_host_array_is_rejected():
    params, grads = problem(np.float32, SIZE, seed=0, steps=1)
    tab = [dev(a) for a in table(SEGMENTS, GROUPS)]
    with pytest.raises(TypeError, match="'grads'"):
        cuda_optim.sgd_update(dev(params), dev(params), grads[0], *tab, 0.0, 0.0, False, False, True)
    with pytest.raises(TypeError, match="'seg_lr'"):
        cuda_optim.adam_update(dev(params), dev(params), dev(params), dev(params), dev(grads[0]), *tab[:2],
                               table(SEGMENTS, GROUPS)[2], *tab[3:], 0.9, 0.999, 1e-8, 0.1, 0.001, False, False,
                               False)


def test_names_and_signatures_match_cpu():
    assert cuda_optim.__all__ == cpu_optim.__all__
    assert cuda_optim.PARALLEL_CHUNK == cpu_optim.PARALLEL_CHUNK
    for name in cpu_optim.__all__:
        cpu_fn = getattr(cpu_optim, name)
        if callable(cpu_fn):
            params = lambda f: list(inspect.signature(getattr(f, "py_func", f)).parameters)  # noqa: E731
            assert params(getattr(cuda_optim, name)) == params(cpu_fn), name
    for name in ref_optim.__all__:
        assert getattr(cuda_optim, f"{name}_parallel") is getattr(cuda_optim, name)
