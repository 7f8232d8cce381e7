"""Optimizer kernels over a flat buffer with a segment table: reference == cpu (serial and prange drivers)
for every rule and mode, float32 and float64; PyTorch's update rules at the kernel level (one torch param
group per segment); the parallel driver bitwise equal to the serial one across chunk boundaries; frozen
stretches (no segment) and unused state buffers never touched.

Rules: sgd_update, momentum_update, adagrad_update, rmsprop_update, rmsprop_nesterov_update, adam_update,
adamax_update, nadam_update (formulas: kernels/reference/optim.py).
"""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before torch starts)

import math

import numpy as np
import pytest
import torch
from gradcheck import assert_close

import kernels
from kernels.cpu import optim as cpu_optim

REF = kernels.get("reference")
CPU = kernels.get("cpu")
STEPS = 4

# three segments of a 40-long buffer, out of order (param groups interleave in a model's buffer), with a
# frozen stretch [9, 13) that no segment covers
SEGMENTS = [(25, 40), (0, 9), (13, 25)]
SIZE = 40
FROZEN = slice(9, 13)
GROUPS = [dict(lr=0.05, weight_decay=0.0, l1=0.0),
          dict(lr=0.02, weight_decay=0.05, l1=0.0),
          dict(lr=0.01, weight_decay=0.01, l1=0.003)]
# rules whose lr scale differs (adaptive steps are ~lr per coordinate)
LR_SCALE = {"sgd": 1.0, "momentum": 1.0, "adagrad": 0.5, "rmsprop": 0.1, "rmsprop_nesterov": 0.1, "adam": 0.1,
            "adamax": 0.1, "nadam": 0.1}

N_STATE = {"sgd": 1, "momentum": 1, "adagrad": 1, "rmsprop": 3, "rmsprop_nesterov": 3, "adam": 3, "adamax": 2,
           "nadam": 2}

CONFIGS = {
    "sgd": [dict(momentum=0.0, dampening=0.0, nesterov=False, maximize=False),
            dict(momentum=0.9, dampening=0.0, nesterov=False, maximize=False),
            dict(momentum=0.9, dampening=0.1, nesterov=False, maximize=True),
            dict(momentum=0.9, dampening=0.0, nesterov=True, maximize=False)],
    "momentum": [dict(momentum=0.9, nesterov=False, maximize=False),
                 dict(momentum=0.8, nesterov=True, maximize=False),
                 dict(momentum=0.9, nesterov=True, maximize=True)],
    "adagrad": [dict(eps=1e-10, maximize=False, lr_decay=0.0, init=0.0),
                dict(eps=1e-6, maximize=True, lr_decay=0.1, init=0.1)],
    "rmsprop": [dict(alpha=0.99, eps=1e-8, momentum=0.0, centered=False, eps_inside=False, maximize=False),
                dict(alpha=0.9, eps=1e-8, momentum=0.9, centered=False, eps_inside=False, maximize=False),
                dict(alpha=0.9, eps=1e-6, momentum=0.0, centered=True, eps_inside=False, maximize=True),
                dict(alpha=0.9, eps=1e-6, momentum=0.5, centered=True, eps_inside=True, maximize=False),
                dict(alpha=0.95, eps=1e-6, momentum=0.0, centered=False, eps_inside=True, maximize=False)],
    "rmsprop_nesterov": [dict(alpha=0.9, eps=1e-6, momentum=0.9, centered=False, eps_inside=True, maximize=False),
                         dict(alpha=0.99, eps=1e-8, momentum=0.5, centered=True, eps_inside=False, maximize=True)],
    "adam": [dict(betas=(0.9, 0.999), eps=1e-8, amsgrad=False, decoupled=False, maximize=False),
             dict(betas=(0.8, 0.99), eps=1e-6, amsgrad=True, decoupled=False, maximize=False),
             dict(betas=(0.9, 0.999), eps=1e-8, amsgrad=False, decoupled=True, maximize=True),
             dict(betas=(0.0, 0.9), eps=1e-8, amsgrad=True, decoupled=True, maximize=False)],
    "adamax": [dict(betas=(0.9, 0.999), eps=1e-8, maximize=False),
               dict(betas=(0.8, 0.9), eps=1e-6, maximize=True)],
    "nadam": [dict(betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3, decoupled=False, maximize=False),
              dict(betas=(0.8, 0.99), eps=1e-6, momentum_decay=1e-2, decoupled=True, maximize=True)],
}
CASES = [(rule, i) for rule, cfgs in CONFIGS.items() for i in range(len(cfgs))]
CASE_IDS = [f"{rule}-{i}" for rule, i in CASES]


def uses_state(rule, cfg):
    """Which of the rule's state buffers the configuration uses (the others must stay untouched)."""
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
    """The host-computed trailing scalar arguments of step t (1-based)."""
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


def table(segments, groups, rule, cfg, t):
    lrs = np.array([g["lr"] * LR_SCALE[rule] for g in groups], dtype=np.float64)
    if rule == "adagrad":  # the host passes the decayed lr
        lrs = lrs / (1 + (t - 1) * cfg["lr_decay"])
    return (np.array([s for s, _ in segments], dtype=np.int64), np.array([e for _, e in segments], dtype=np.int64),
            lrs, np.array([g["weight_decay"] for g in groups], dtype=np.float64),
            np.array([g["l1"] for g in groups], dtype=np.float64))


def kernel(mod, rule, parallel=False):
    name = f"{rule}_update" + ("_parallel" if parallel else "")
    return getattr(mod, name)


def initial_state(rule, cfg, size, dtype):
    """Zero state for used buffers (adagrad: its initial accumulator), NaN for unused ones."""
    state = []
    for used in uses_state(rule, cfg):
        start = cfg.get("init", 0.0) if rule == "adagrad" else 0.0
        state.append(np.full(size, start if used else np.nan, dtype=dtype))
    return state


def run(fn, rule, cfg, params, grads, segments=SEGMENTS, groups=GROUPS):
    p = params.copy()
    state = initial_state(rule, cfg, p.size, p.dtype)
    for t, g in enumerate(grads, start=1):
        fn(p, *state, g, *table(segments, groups, rule, cfg, t), *scalars(rule, cfg, t))
    return p, state


def problem(dtype, size=SIZE, seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(size).astype(dtype)
    params[::7] = 0.0  # sign(0) = 0 for the L1 term
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(steps)]
    grads[1][3] = 0.0
    return params, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("rule,i", CASES, ids=CASE_IDS)
def test_cpu_matches_reference(rule, i, parallel, dtype):
    cfg = CONFIGS[rule][i]
    params, grads = problem(dtype, seed=i)
    p_ref, s_ref = run(kernel(REF, rule), rule, cfg, params, grads)
    p_cpu, s_cpu = run(kernel(CPU, rule, parallel), rule, cfg, params, grads)
    assert p_cpu.dtype == dtype
    assert_close(p_cpu, p_ref, dtype, what="params")
    for k, (a, r, used) in enumerate(zip(s_cpu, s_ref, uses_state(rule, cfg))):
        if used:
            assert_close(a, r, dtype, what=f"state {k}")
        else:
            assert np.isnan(a).all() and np.isnan(r).all(), f"unused state {k} was written"
    # the frozen stretch is untouched, every segment moved
    np.testing.assert_array_equal(p_cpu[FROZEN], params[FROZEN])
    np.testing.assert_array_equal(p_ref[FROZEN], params[FROZEN])
    for s, e in SEGMENTS:
        assert not np.allclose(p_cpu[s:e], params[s:e])


@pytest.mark.parametrize("rule,i", CASES, ids=CASE_IDS)
def test_parallel_bitwise_equals_serial_across_chunks(rule, i):
    chunk = cpu_optim.PARALLEL_CHUNK
    size = 2 * chunk + 1234
    # segments crossing chunk boundaries, out of order, a frozen gap, a 1-element and an empty segment
    segments = [(chunk - 100, 2 * chunk + 1000), (0, chunk - 300), (2 * chunk + 1100, 2 * chunk + 1101),
                (5, 5)]
    groups = [GROUPS[2], GROUPS[0], GROUPS[1], GROUPS[0]]
    params, grads = problem(np.float32, size=size, seed=10 + i, steps=2)
    cfg = CONFIGS[rule][i]
    p_ser, s_ser = run(kernel(CPU, rule), rule, cfg, params, grads, segments, groups)
    p_par, s_par = run(kernel(CPU, rule, True), rule, cfg, params, grads, segments, groups)
    np.testing.assert_array_equal(p_par, p_ser)
    for a, b in zip(s_par, s_ser):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p_par[chunk - 300:chunk - 100], params[chunk - 300:chunk - 100])
    assert not np.array_equal(p_par[2 * chunk + 1100], params[2 * chunk + 1100])


def test_empty_table_is_a_no_op():
    params, grads = problem(np.float32)
    empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
    for parallel in (False, True):
        p, m, v = params.copy(), np.zeros(SIZE, np.float32), np.zeros(SIZE, np.float32)
        kernel(CPU, "adam", parallel)(p, m, v, m[:0], grads[0], empty_i, empty_i, empty_f, empty_f, empty_f,
                                      0.9, 0.999, 1e-8, 0.1, 0.001, False, False, False)
        np.testing.assert_array_equal(p, params)


# ----------------------------------------------------------------------------------- vs torch.optim


def torch_optimizer(rule, cfg, groups):
    t = torch.optim
    if rule == "sgd":
        return t.SGD(groups, lr=1.0, momentum=cfg["momentum"], dampening=cfg["dampening"], nesterov=cfg["nesterov"],
                     maximize=cfg["maximize"])
    if rule == "adagrad":
        return t.Adagrad(groups, lr=1.0, lr_decay=cfg["lr_decay"], eps=cfg["eps"], maximize=cfg["maximize"],
                         initial_accumulator_value=cfg["init"])
    if rule == "rmsprop":
        return t.RMSprop(groups, lr=1.0, alpha=cfg["alpha"], eps=cfg["eps"], momentum=cfg["momentum"],
                         centered=cfg["centered"], maximize=cfg["maximize"])
    if rule == "adam":
        cls = t.AdamW if cfg["decoupled"] else t.Adam
        return cls(groups, lr=1.0, betas=cfg["betas"], eps=cfg["eps"], amsgrad=cfg["amsgrad"],
                   maximize=cfg["maximize"])
    if rule == "adamax":
        return t.Adamax(groups, lr=1.0, betas=cfg["betas"], eps=cfg["eps"], maximize=cfg["maximize"])
    return t.NAdam(groups, lr=1.0, betas=cfg["betas"], eps=cfg["eps"], momentum_decay=cfg["momentum_decay"],
                   decoupled_weight_decay=cfg["decoupled"], maximize=cfg["maximize"])


TORCH_CASES = [(rule, i) for rule, i in CASES if rule not in ("momentum", "rmsprop_nesterov")
               and not (rule == "rmsprop" and CONFIGS[rule][i]["eps_inside"])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule,i", TORCH_CASES, ids=[f"{r}-{i}" for r, i in TORCH_CASES])
def test_cpu_matches_torch(rule, i, dtype):
    """One torch param group per segment (torch has no L1: l1 = 0 here)."""
    cfg = CONFIGS[rule][i]
    groups = [{**g, "l1": 0.0} for g in GROUPS]
    params, grads = problem(dtype, seed=20 + i)
    ours, _ = run(kernel(CPU, rule), rule, cfg, params, grads, SEGMENTS, groups)
    tensors = [torch.tensor(params[s:e], requires_grad=True) for s, e in SEGMENTS]
    opt = torch_optimizer(rule, cfg, [dict(params=[x], lr=g["lr"] * LR_SCALE[rule], weight_decay=g["weight_decay"])
                                      for x, g in zip(tensors, groups)])
    for g in grads:
        for x, (s, e) in zip(tensors, SEGMENTS):
            x.grad = torch.tensor(g[s:e])
        opt.step()
    # torch keeps NAdam's mu_product in a float32 tensor (the default dtype) even for float64 params: ~1e-8
    tol = 2e-6 if dtype == np.float32 else 1e-7 if rule == "nadam" else 1e-12
    for x, (s, e) in zip(tensors, SEGMENTS):
        assert_close(ours[s:e], x.detach().numpy(), dtype, tol=tol)
    np.testing.assert_array_equal(ours[FROZEN], params[FROZEN])


# ---------------------------------------------------------------------- textbook forms vs their algorithms


def test_momentum_nesterov_is_the_interim_point_algorithm():
    """momentum_update(nesterov=True) keeps phi = theta + a v in the buffer: with the gradient evaluated at
    the buffer (our API) it reproduces Goodfellow et al. Alg. 8.3 literally (gradient at theta + a v)."""
    rng = np.random.default_rng(5)
    a_mat = rng.standard_normal((6, 6))
    a_mat = a_mat @ a_mat.T / 6 + np.eye(6)
    b = rng.standard_normal(6)
    grad = lambda x: a_mat @ x - b  # noqa: E731
    lrs = [0.1, 0.1, 0.05, 0.2, 0.02, 0.1]
    alpha = 0.9
    theta, v = rng.standard_normal(6), np.zeros(6)
    phi, vel = theta.copy(), np.zeros(6)
    one = np.array([0], np.int64), np.array([6], np.int64)
    zero = np.zeros(1)
    for lr in lrs:
        g = grad(theta + alpha * v)  # Alg. 8.3
        v = alpha * v - lr * g
        theta = theta + v
        CPU.momentum_update(phi, vel, grad(phi), *one, np.array([lr]), zero, zero, alpha, True, False)
        np.testing.assert_allclose(phi, theta + alpha * v, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(vel, v, rtol=1e-13, atol=1e-13)
